import time

from billing.celery import app


@app.task(bind=True)
def invoice(self, number: int) -> str:
    """Uses a method of the team's base class."""
    return f"{self.invoice_prefix()}-{number}"


@app.task(bind=True, max_retries=5)
def flaky_charge(self, key: str, failures: int) -> str:
    """Fails ``failures`` times with a bare self.retry() (the platform's backoff), then charges."""
    client = self.app.backend.client
    if client.incr(f"billing:attempts:{key}") <= failures:
        raise self.retry(exc=ConnectionError("gateway away"))
    return "charged"


@app.task
def refund_twice(order: int) -> None:
    """Refused by the payment gateway: a final failure."""
    raise RuntimeError(f"refund {order} refused")


@app.task
def slow_export(seconds: float) -> str:
    time.sleep(seconds)
    return "exported"
