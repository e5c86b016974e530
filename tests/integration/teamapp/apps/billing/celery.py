import os

from celery import Celery, Task


class AuditedTask(Task):
    """The team's base class: every final failure is written to its audit list."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        with self.app.pool.acquire(block=True) as connection:
            client = connection.default_channel.client
            client.rpush("billing:audit", f"{self.name}|{type(exc).__name__}")

    def invoice_prefix(self) -> str:
        return "INV"


app = Celery("billing", task_cls=AuditedTask, include=["billing.tasks"])
app.conf.update(
    broker_url=os.environ.get("BILLING_BROKER_URL", "redis://localhost:6379/0"),
    task_default_queue="billing",
    task_time_limit=4,
    task_soft_time_limit=3,
    timezone="America/New_York",
)
