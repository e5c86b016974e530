"""A task module for the tests' workers (SHOAL_IMPORTS): retries twice, then fails."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="obs.retry_twice", bind=True, max_retries=2)
def retry_twice(self: Any) -> None:
    raise self.retry(exc=ValueError(f"attempt {self.request.retries}"), countdown=0)
