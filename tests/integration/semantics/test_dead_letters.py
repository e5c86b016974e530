"""Messages a worker cannot run, and tasks that fail for good, land in the dead letters."""

from __future__ import annotations

import pytest
import redis
from celery import Celery

from tests.integration.semantics import dead_letters
from tests.integration.semantics.messages import envelope, json_body, pickle_body
from tests.support.procs import ProcessTracker, wait_for
from workers.deadletter import DeadLetterStore


@pytest.mark.timeout(180)
def test_unrunnable_messages_are_dead_lettered_and_the_worker_goes_on(
    procs: ProcessTracker,
    semantics_env: dict[str, str],
    redis_client: redis.Redis,
    stock_client: Celery,
) -> None:
    queue = "raw"
    worker = procs.worker(queue, env=semantics_env)
    redis_client.lpush(queue, envelope("no.such.task", json_body(1), queue=queue))
    redis_client.lpush(queue, envelope("tests.add", b"{not json", queue=queue))
    redis_client.lpush(
        queue,
        envelope(
            "tests.add",
            pickle_body(1, 2),
            queue=queue,
            content_type="application/x-python-serialize",
        ),
    )
    redis_client.lpush(queue, envelope("", b"[1, 2]", queue=queue, headers={}))  # no task at all
    dead_letters.wait_for_count(redis_client, queue, 4, timeout_s=90)
    entries = dead_letters.entries(redis_client, queue)
    by_reason = {e["reason"]: e for e in entries}
    assert set(by_reason) == {
        "unknown_task",
        "decode_error",
        "content_disallowed",
        "unknown_message",
    }
    assert by_reason["unknown_message"]["message"]["body"] == "[1, 2]"  # type: ignore[index]
    assert by_reason["unknown_task"]["task"] == "no.such.task"
    assert by_reason["decode_error"]["message"]["body"] == "{not json"  # type: ignore[index]
    pickled = by_reason["content_disallowed"]["message"]
    assert pickled["content_type"] == "application/x-python-serialize"  # type: ignore[index]
    assert pickled["body_encoding"] == "base64"  # type: ignore[index]
    for entry in entries:
        assert entry["queue"] == queue
        assert isinstance(entry["dead_lettered_at"], float)
        assert entry["error"]
    assert redis_client.sismember("shoal:dlq-queues", queue)
    # The worker is still alive and still runs tasks.
    result = stock_client.send_task("tests.add", args=[2, 3], queue=queue)
    assert result.get(timeout=60) == 5
    assert worker.alive()
    # Nothing left unacked: every bad message was acknowledged.
    wait_for(lambda: redis_client.hlen("unacked") == 0, timeout_s=30, message="no unacked message")
    assert redis_client.llen(queue) == 0


@pytest.mark.timeout(180)
@pytest.mark.parametrize("pool", ["prefork", "gevent"])
def test_retries_run_then_the_task_is_dead_lettered_with_its_reason(
    pool: str,
    procs: ProcessTracker,
    semantics_env: dict[str, str],
    redis_client: redis.Redis,
    stock_client: Celery,
) -> None:
    queue = "retries"
    procs.worker(queue, env=semantics_env, pool=pool, concurrency=2)
    stock_client.send_task("tests.always_fails", args=["a"], queue=queue)
    ok = stock_client.send_task("tests.retry_then_ok", args=["b", 2], queue=queue)
    stock_client.send_task("tests.non_retryable", args=["c"], queue=queue)
    stock_client.send_task("tests.celery_backoff", args=["d"], queue=queue)
    assert ok.get(timeout=90) == "b"
    dead_letters.wait_for_count(redis_client, queue, 3, timeout_s=90)
    attempts = [a.decode() for a in redis_client.lrange("shoal:test:attempts", 0, -1)]
    assert sorted(a for a in attempts if a.startswith("a|")) == ["a|0", "a|1", "a|2", "a|3"]
    assert sorted(a for a in attempts if a.startswith("b|")) == ["b|0", "b|1", "b|2"]
    assert [a for a in attempts if a.startswith("c|")] == ["c|0"]
    assert sorted(a for a in attempts if a.startswith("d|")) == ["d|0", "d|1", "d|2"]
    entries = {e["task"]: e for e in dead_letters.entries(redis_client, queue)}
    assert entries["tests.always_fails"]["reason"] == "retries_exhausted"
    assert "RuntimeError: attempt 3 failed" in str(entries["tests.always_fails"]["error"])
    assert entries["tests.always_fails"]["message"]["headers"]["retries"] == 3  # type: ignore[index]
    assert entries["tests.non_retryable"]["reason"] == "non_retryable"
    assert "NonRetryable: bad input c" in str(entries["tests.non_retryable"]["error"])
    assert entries["tests.celery_backoff"]["reason"] == "retries_exhausted"
    assert DeadLetterStore(redis_client).count(queue) == 3


@pytest.mark.timeout(180)
def test_soft_and_hard_time_limits_dead_letter_the_task(
    procs: ProcessTracker,
    semantics_env: dict[str, str],
    redis_client: redis.Redis,
    stock_client: Celery,
) -> None:
    queue = "limits"
    env = {
        **semantics_env,
        "SHOAL_TASK_SOFT_TIME_LIMIT_S": "1",
        "SHOAL_TASK_TIME_LIMIT_S": "2",
        "SHOAL_VISIBILITY_TIMEOUT_S": "30",
    }
    procs.worker(queue, env=env, concurrency=2)
    stock_client.send_task("tests.start_then_sleep", args=["soft", 5.0], queue=queue)
    stock_client.send_task("tests.stubborn", args=["hard", 5.0], queue=queue)
    dead_letters.wait_for_count(redis_client, queue, 2, timeout_s=90)
    entries = {e["task"]: e for e in dead_letters.entries(redis_client, queue)}
    assert entries["tests.start_then_sleep"]["reason"] == "time_limit"
    assert "SoftTimeLimitExceeded" in str(entries["tests.start_then_sleep"]["error"])
    assert entries["tests.stubborn"]["reason"] == "time_limit"
    assert "TimeLimitExceeded" in str(entries["tests.stubborn"]["error"])
    assert redis_client.llen("shoal:test:done") == 0
    wait_for(lambda: redis_client.hlen("unacked") == 0, timeout_s=30, message="both acked")
    assert redis_client.llen(f"shoal:dlq:{queue}") == 2  # once each
