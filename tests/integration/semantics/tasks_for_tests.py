"""Tasks the semantics tests load into real workers (SHOAL_IMPORTS=this module).

Each task writes what it did to a Redis list through the result backend's client (the test
Redis), so a test can count attempts, check an order, or time completions.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from workers.base import NonRetryable

ATTEMPTS = "shoal:test:attempts"
DONE = "shoal:test:done"
STARTS = "shoal:test:starts"
STAMPS = "shoal:test:stamps"
FLAG = "shoal:test:flag"
PIDS = "shoal:test:pids"


def _push(task: Any, key: str, value: str) -> None:
    task.app.backend.client.rpush(key, value)


@shared_task(name="tests.add")
def add(x: int, y: int) -> int:
    return x + y


@shared_task(name="tests.stamp", bind=True)
def stamp(self: Any, tag: str) -> str:
    """Records ``tag|pid|epoch seconds`` when it runs (rate limit checks)."""
    _push(self, STAMPS, f"{tag}|{os.getpid()}|{time.time():.6f}")
    return tag


@shared_task(name="tests.start_then_sleep", bind=True)
def start_then_sleep(self: Any, tag: str, seconds: float) -> str:
    """Records its start, sleeps, records its end: a kill in between shows as a start only."""
    _push(self, STARTS, tag)
    time.sleep(seconds)
    _push(self, DONE, tag)
    return tag


@shared_task(
    name="tests.always_fails",
    bind=True,
    autoretry_for=(RuntimeError,),
    max_retries=3,
    retry_backoff_base_s=0.05,
    retry_backoff_max_s=0.2,
)
def always_fails(self: Any, tag: str) -> None:
    """autoretry_for with the platform backoff: 1 run + 3 retries, then dead letters."""
    _push(self, ATTEMPTS, f"{tag}|{self.request.retries}")
    raise RuntimeError(f"attempt {self.request.retries} failed")


@shared_task(
    name="tests.celery_backoff",
    bind=True,
    autoretry_for=(RuntimeError,),
    max_retries=2,
    retry_backoff=1,
    retry_backoff_max=1,
    retry_jitter=True,
)
def celery_backoff(self: Any, tag: str) -> None:
    """Celery's own retry_backoff/retry_jitter options, unchanged."""
    _push(self, ATTEMPTS, f"{tag}|{self.request.retries}")
    raise RuntimeError(f"attempt {self.request.retries} failed")


@shared_task(
    name="tests.retry_then_ok",
    bind=True,
    max_retries=5,
    retry_backoff_base_s=0.05,
    retry_backoff_max_s=0.2,
)
def retry_then_ok(self: Any, tag: str, succeed_on: int = 2) -> str:
    """``self.retry()`` until attempt ``succeed_on``, then success."""
    _push(self, ATTEMPTS, f"{tag}|{self.request.retries}")
    if self.request.retries < succeed_on:
        raise self.retry(exc=RuntimeError("not yet"))
    _push(self, DONE, tag)
    return tag


@shared_task(name="tests.non_retryable", bind=True, autoretry_for=(Exception,), max_retries=5)
def non_retryable(self: Any, tag: str) -> None:
    _push(self, ATTEMPTS, f"{tag}|{self.request.retries}")
    raise NonRetryable(f"bad input {tag}")


@shared_task(name="tests.fail_until_flag", bind=True)
def fail_until_flag(self: Any, tag: str) -> str:
    """Fails for good until the key ``shoal:test:flag`` exists (requeue checks)."""
    if not self.app.backend.client.exists(FLAG):
        raise NonRetryable("flag not set")
    _push(self, DONE, tag)
    return tag


@shared_task(name="tests.stubborn", bind=True)
def stubborn(self: Any, tag: str, seconds: float) -> str:
    """Ignores the soft time limit, so only the hard one stops it."""
    _push(self, STARTS, tag)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            time.sleep(0.05)
        except SoftTimeLimitExceeded:
            _push(self, ATTEMPTS, f"{tag}|soft")
    _push(self, DONE, tag)
    return tag


@shared_task(name="tests.pid_then_sleep", bind=True)
def pid_then_sleep(self: Any, tag: str, seconds: float) -> str:
    """Records ``tag|pid`` of the pool process, sleeps, records ``tag`` as done."""
    _push(self, PIDS, f"{tag}|{os.getpid()}")
    time.sleep(seconds)
    _push(self, DONE, tag)
    return tag
