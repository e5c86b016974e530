"""Tasks the delivery tests load into real workers (``SHOAL_IMPORTS=this module``).

They record what they did in a local file (``DELIVERY_RECORD_FILE``), not in Redis: a test that
stops Redis or kills workers must count every start and every finish without depending on the
thing it breaks. Each line is ``<event> <tag> <pid> <epoch s>``, written with one ``write`` call
on a file opened for appending, so lines from many processes never interleave.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import shared_task

RECORD_ENV = "DELIVERY_RECORD_FILE"


def record(event: str, tag: str) -> None:
    line = f"{event} {tag} {os.getpid()} {time.time():.3f}\n".encode()
    fd = os.open(os.environ[RECORD_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


@shared_task(name="delivery.work")
def work(tag: str, seconds: float = 0.0) -> str:
    """Records its start, sleeps ``seconds``, records its end; returns ``tag``."""
    record("start", tag)
    if seconds:
        time.sleep(seconds)
    record("done", tag)
    return tag


@shared_task(name="delivery.spin")
def spin(tag: str, seconds: float) -> str:
    """Keeps the CPU busy for ``seconds`` without yielding (a greenlet that hogs its process)."""
    record("start", tag)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    record("done", tag)
    return tag


@shared_task(name="delivery.retry_later", bind=True, max_retries=1)
def retry_later(self: Any, tag: str, countdown: float) -> str:
    """Records an attempt; the first one retries ``countdown`` seconds later."""
    record(f"attempt{self.request.retries}", tag)
    if self.request.retries == 0:
        raise self.retry(countdown=countdown)
    record("done", tag)
    return tag
