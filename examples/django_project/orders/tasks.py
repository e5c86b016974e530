"""The team's tasks, found by ``app.autodiscover_tasks()``."""

from celery import shared_task
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
