"""Stock Celery on stock kombu (BRPOP, the ``unacked`` hash): the peer the delivery tests compare
with. ``celery -A tests.integration.delivery.stock_app worker``; the broker from
``STOCK_BROKER_URL``; late acks and reject-on-worker-lost, as shoal configured Celery before the
reliable fetch."""

from __future__ import annotations

import os

from celery import Celery

app = Celery("stock", broker=os.environ["STOCK_BROKER_URL"])
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    imports=("tests.integration.delivery.tasks",),
)
