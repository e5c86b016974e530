"""Before Celery starts: wait for Redis with capped exponential backoff, one line per attempt.

Celery retries the broker connection itself, but each failed attempt logs a long message and a
wrong URL or password is easy to miss in it. Here an unreachable Redis or a refused password
shows as one masked line per attempt on stderr, and the worker starts as soon as Redis answers.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

import redis

from contract.connection import connect
from workers.redact import mask_text, mask_url


def backoff_s(attempt: int, *, base_s: float = 0.5, cap_s: float = 30.0) -> float:
    """The wait after failed attempt ``attempt`` (1, 2, ...): base * 2^(attempt-1), capped."""
    if attempt < 1:
        return 0.0
    return float(min(cap_s, base_s * 2 ** min(attempt - 1, 32)))


def describe(exc: Exception) -> str:
    """A short, masked reason for a failed ping."""
    if isinstance(exc, redis.AuthenticationError):
        return f"authentication failed ({exc}); check SHOAL_REDIS_PASSWORD or the URL"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return mask_text(text)


def ping(url: str, timeout_s: float = 3.0) -> None:
    client = connect(url, timeout_s=timeout_s)
    try:
        client.ping()
    finally:
        client.close()


def wait_for_redis(
    url: str,
    *,
    ping_fn: Callable[[str], None] = ping,
    sleep: Callable[[float], None],
    out: TextIO = sys.stderr,
    cap_s: float = 30.0,
) -> int:
    """Ping until Redis answers; returns the number of failed attempts."""
    failures = 0
    while True:
        try:
            ping_fn(url)
        except (redis.RedisError, OSError, ValueError) as exc:
            failures += 1
            wait_s = backoff_s(failures, cap_s=cap_s)
            print(
                f"shoal worker: cannot reach Redis at {mask_url(url)}: {describe(exc)}; "
                f"attempt {failures}, retrying in {wait_s:g}s",
                file=out,
                flush=True,
            )
            sleep(wait_s)
            continue
        if failures:
            print(f"shoal worker: Redis at {mask_url(url)} answers now", file=out, flush=True)
        return failures
