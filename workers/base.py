"""The platform task base class (``task_cls``): retries with capped, jittered backoff, and the
global rate limits. Dead-lettering on final failure happens in :mod:`workers.request`, in the
process that holds the message."""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING, Any

from celery import Task

from contract.backoff import compute_backoff
from workers.ratelimit import TokenBucket, limits_for

log = logging.getLogger(__name__)


class NonRetryable(Exception):
    """Raise it (or a subclass) to fail for good at once: no retry, straight to dead letters."""


_TaskBase: Any = Task if TYPE_CHECKING else object


class PlatformTaskMixin(_TaskBase):  # type: ignore[misc]
    """The platform's layer over any Celery task class: retry backoff, ``NonRetryable``, the
    global rate limits and the dead-letter request. It is placed before the app's own class
    (``PlatformTask`` over Celery's ``Task``; over Django's ``DjangoTask`` or a team's base
    class by :mod:`workers.compose`), so everything that class adds keeps working.

    ``self.retry()``, ``autoretry_for``, ``retry_backoff``, ``retry_jitter`` and ``max_retries``
    behave as in Celery. When a retry names no ``countdown``/``eta`` (a bare ``self.retry()``,
    or ``autoretry_for`` without ``retry_backoff``) the delay is exponential with full jitter
    and a cap, set per task with the ``retry_backoff_*`` attributes below.
    """

    Request = "workers.request:ShoalRequest"

    platform_backoff: bool = True
    """False: Celery's ``default_retry_delay`` applies to retries without a countdown."""
    retry_backoff_base_s: float = 1.0
    retry_backoff_factor: float = 2.0
    retry_backoff_max_s: float = 600.0
    retry_full_jitter: bool = True

    def backoff_s(self, retries: int) -> float:
        return compute_backoff(
            retries,
            base_s=self.retry_backoff_base_s,
            factor=self.retry_backoff_factor,
            max_backoff_s=self.retry_backoff_max_s,
            jitter=self.retry_full_jitter,
            rand=random.random,
        )

    def retry(
        self,
        args: Any = None,
        kwargs: Any = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: Any = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Any:
        if isinstance(exc, NonRetryable):
            raise exc
        if eta is None and countdown is None and self.platform_backoff:
            countdown = self.backoff_s(self.request.retries or 0)
        return super().retry(
            args=args,
            kwargs=kwargs,
            exc=exc,
            throw=throw,
            eta=eta,
            countdown=countdown,
            max_retries=max_retries,
            **options,
        )

    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        settings = getattr(self.app, "shoal_settings", None)
        if settings is not None and settings.rate_limits:
            queue = (self.request.delivery_info or {}).get("routing_key")
            for limit in limits_for(self.name, queue, settings.rate_limits):
                wait_s = self._acquire(limit.key, limit.per_second)
                if wait_s > 0:
                    time.sleep(wait_s)  # cooperative under gevent (time is monkey-patched)
        super().before_start(task_id, args, kwargs)

    def _acquire(self, scope_key: str, per_second: float) -> float:
        from workers.broker import app_redis

        try:
            with app_redis(self.app) as client:
                return TokenBucket(client).acquire(scope_key, per_second)
        except Exception as exc:  # fail open: Redis trouble must not fail the task itself
            log.warning("rate limit %s not applied: %s", scope_key, type(exc).__name__)
            return 0.0


class PlatformTask(PlatformTaskMixin, Task):  # type: ignore[misc]
    """Celery's Task with the platform layer: the task class of the worker's own app."""
