"""The team's tasks, found by ``app.autodiscover_tasks()``."""

from celery import shared_task
from django.db import transaction
from django.db.models import F

from orders.models import Order


@shared_task
def touch(reference: str) -> int:
    """An ORM write: add one to the order's counter (created on first use)."""
    order, _ = Order.objects.get_or_create(reference=reference)
    Order.objects.filter(pk=order.pk).update(touched=F("touched") + 1)
    return Order.objects.get(pk=order.pk).touched


@shared_task
def send_daily_email() -> str:
    """Routed to the ``emails`` queue by CELERY_TASK_ROUTES."""
    return "sent"


@shared_task
def place_order(reference: str, quantity: int) -> int:
    """Create the order and send its confirmation once the order is committed.

    ``delay_on_commit`` (Django's task class, Celery 5.4+) publishes only after the
    transaction commits: the confirmation never sees a missing order, and an order that is
    rolled back sends none.
    """
    with transaction.atomic():
        order = Order.objects.create(reference=reference)
        send_confirmation.delay_on_commit(order.pk)
        if quantity < 1:
            raise ValueError(f"order {reference}: quantity must be at least 1, got {quantity}")
    return order.pk


@shared_task
def send_confirmation(order_id: int) -> int:
    """Mark the order as emailed; the number of orders found (1 once it is committed)."""
    return Order.objects.filter(pk=order_id).update(emailed=True)


@shared_task(bind=True)
def close_day(self) -> dict[str, object]:
    """End of the business day in the app's time zone: count the orders, send the email."""
    local = self.app.now().astimezone(self.app.timezone)
    send_daily_email.delay()
    return {
        "day": local.date().isoformat(),
        "timezone": str(self.app.timezone),
        "orders": Order.objects.count(),
    }
