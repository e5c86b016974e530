"""Test instrumentation imported with ``SHOAL_IMPORTS`` next to a team's app: what the worker
process really runs with (the app's conf, a task's class and options)."""

from __future__ import annotations

from typing import Any

from celery import current_app, shared_task


@shared_task(name="probe.conf")
def conf(keys: list[str]) -> dict[str, Any]:
    return {key: _plain(current_app.conf.get(key)) for key in keys}


@shared_task(name="probe.task")
def task(name: str) -> dict[str, Any]:
    found = current_app.tasks[name]
    return {
        "mro": [f"{c.__module__}.{c.__qualname__}" for c in type(found).__mro__],
        "request": f"{type(found).Request}",
        "acks_late": found.acks_late,
        "time_limit": found.time_limit,
        "app": current_app.main,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


@shared_task(name="probe.non_retryable", bind=True, autoretry_for=(Exception,), max_retries=3)
def non_retryable(self: Any) -> None:
    """``NonRetryable`` ends the task at once even where ``autoretry_for`` matches it."""
    from workers.base import NonRetryable

    raise NonRetryable("the card is blocked")


@shared_task(name="probe.db_wait")
def db_wait() -> str | None:
    """psycopg2's wait callback in this worker process (psycogreen's under gevent)."""
    import psycopg2.extensions

    callback = psycopg2.extensions.get_wait_callback()
    return None if callback is None else f"{callback.__module__}.{callback.__qualname__}"


@shared_task(name="probe.db_sleep")
def db_sleep(seconds: float) -> list[float]:
    """A query that waits on the database server: when it started and ended (epoch seconds)."""
    import time

    from django.db import connection

    started = time.time()
    with connection.cursor() as cursor:
        cursor.execute("select pg_sleep(%s)", [seconds])
    return [started, time.time()]


@shared_task(name="probe.db_fresh")
def db_fresh() -> dict[str, Any]:
    """Whether this task started without an open database connection (Celery's Django fix-up
    closes it around each task), and which fix-ups the app carries."""
    from django.db import connection

    return {
        "closed_at_start": connection.connection is None,
        "fixups": sorted(type(f).__name__ for f in current_app._fixups),
    }
