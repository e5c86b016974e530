"""Waiting for Redis before Celery starts: backoff maths and one masked line per attempt."""

from __future__ import annotations

import io

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from workers.preflight import backoff_s, wait_for_redis


@pytest.mark.parametrize(
    ("attempt", "wait_s"),
    [(0, 0.0), (1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 30.0), (99, 30.0)],
)
def test_backoff_table(attempt: int, wait_s: float) -> None:
    assert backoff_s(attempt) == wait_s


@given(st.integers(min_value=1, max_value=10_000), st.floats(min_value=0.01, max_value=10))
def test_backoff_grows_and_is_capped(attempt: int, base_s: float) -> None:
    assert backoff_s(attempt, base_s=base_s) <= 30.0
    assert backoff_s(attempt + 1, base_s=base_s) >= backoff_s(attempt, base_s=base_s)


def test_one_masked_line_per_failed_attempt() -> None:
    failures = [
        redis.ConnectionError("Error 111 connecting to h:6379. Connection refused."),
        redis.AuthenticationError("invalid username-password pair"),
        redis.TimeoutError("Timeout connecting to server"),
    ]
    waits: list[float] = []

    def ping(url: str) -> None:
        if failures:
            raise failures.pop(0)

    out = io.StringIO()
    count = wait_for_redis("redis://:hunter22@h:6379/0", ping_fn=ping, sleep=waits.append, out=out)
    lines = out.getvalue().splitlines()
    assert count == 3 and waits == [0.5, 1.0, 2.0]
    assert len(lines) == 4
    assert lines[0] == (
        "shoal worker: cannot reach Redis at redis://:***@h:6379/0: Error 111 connecting to "
        "h:6379. Connection refused.; attempt 1, retrying in 0.5s"
    )
    assert "authentication failed" in lines[1] and "SHOAL_REDIS_PASSWORD" in lines[1]
    assert lines[3] == "shoal worker: Redis at redis://:***@h:6379/0 answers now"
    assert "hunter22" not in out.getvalue()


def test_no_output_when_redis_answers_at_once() -> None:
    out = io.StringIO()
    assert (
        wait_for_redis("redis://h/0", ping_fn=lambda url: None, sleep=lambda s: None, out=out) == 0
    )
    assert out.getvalue() == ""
