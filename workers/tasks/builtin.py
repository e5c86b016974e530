"""Built-in tasks: CPU-bound, I/O-bound, failing, slow, and a recorder for tests."""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from celery import shared_task


@shared_task(name="shoal.noop")
def noop(*args: Any, **kwargs: Any) -> None:
    """Does nothing: for measuring the platform's own overhead."""


@shared_task(name="shoal.cpu")
def cpu(rounds: int = 20_000) -> str:
    """CPU-bound: chained SHA-256 rounds."""
    digest = b"shoal"
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


@shared_task(name="shoal.io_wait")
def io_wait(seconds: float = 0.2) -> float:
    """I/O-bound: waits (cooperatively under gevent, whose monkey-patching covers sleep)."""
    time.sleep(seconds)
    return seconds


@shared_task(name="shoal.slow")
def slow(seconds: float = 5.0, tag: str = "") -> str:
    """A long task, for drain and redelivery tests."""
    time.sleep(seconds)
    return tag


@shared_task(name="shoal.fail")
def fail(message: str = "boom") -> None:
    """Always raises."""
    raise RuntimeError(message)


@shared_task(name="shoal.record", bind=True)
def record(self: Any, tag: str, seconds: float = 0.0) -> str:
    """Sleeps, then appends ``tag`` to the Redis list ``shoal:test:record`` (order checks)."""
    if seconds:
        time.sleep(seconds)
    backend_client = self.app.backend.client
    backend_client.rpush("shoal:test:record", f"{tag}|{os.getpid()}")
    return tag
