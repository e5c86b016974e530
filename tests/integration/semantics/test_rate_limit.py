"""A global rate limit holds across worker processes, through one Redis token bucket."""

from __future__ import annotations

import time

import pytest
import redis
from celery import Celery

from tests.support.procs import ProcessTracker, wait_for
from workers.ratelimit import TokenBucket

STAMPS = "shoal:test:stamps"


def test_the_bucket_paces_callers_at_the_rate_after_the_burst(redis_client: redis.Redis) -> None:
    bucket = TokenBucket(redis_client)
    calls = []
    for _ in range(12):
        calls.append((time.monotonic(), bucket.acquire("task:paced", 10.0, 2.0)))
    first = calls[0][0]
    assert [wait for _, wait in calls[:2]] == [0.0, 0.0]
    # Caller i (after the burst of 2) may start at (i - 1) / 10 s after the first call.
    for i, (at, wait) in enumerate(calls[2:], start=2):
        assert (at - first) + wait == pytest.approx((i - 1) / 10.0, abs=0.05)
    ttl_ms = redis_client.pttl("shoal:ratelimit:task:paced")
    assert 0 < ttl_ms <= 3000


def test_two_scopes_have_separate_buckets(redis_client: redis.Redis) -> None:
    bucket = TokenBucket(redis_client)
    assert bucket.acquire("queue:a", 1.0, 1.0) == 0.0
    assert bucket.acquire("queue:b", 1.0, 1.0) == 0.0
    assert bucket.acquire("queue:a", 1.0, 1.0) > 0.5


@pytest.mark.timeout(240)
def test_five_per_second_holds_across_four_worker_processes(
    procs: ProcessTracker,
    semantics_env: dict[str, str],
    stock_client: Celery,
    redis_client: redis.Redis,
) -> None:
    env = {**semantics_env, "SHOAL_RATE_LIMITS": "queue:limited=5/s"}
    for i in range(2):
        procs.worker(
            "limited", env={**env, "SHOAL_WORKER_ID": f"w{i}"}, concurrency=2, name=f"worker-{i}"
        )
    # Let both workers come up before the load, so all four processes share it.
    time.sleep(3)
    with stock_client.producer_or_acquire() as producer:
        for i in range(140):
            stock_client.send_task("tests.stamp", args=[str(i)], queue="limited", producer=producer)
    wait_for(lambda: redis_client.llen(STAMPS) >= 110, timeout_s=120, message="110 completions")
    stamps = [v.decode().split("|") for v in redis_client.lrange(STAMPS, 0, -1)]
    times = sorted(float(t) for _, _, t in stamps)
    # The limit is a ceiling: no 10-s window may hold more than its tokens plus the initial burst.
    window_s = 10.0
    busiest = max(sum(1 for t in times if start <= t < start + window_s) for start in times)
    ceiling = 5.0 * window_s + 5
    # And the limit is what the queue gets: the whole run averages near 5/s (a loaded CI machine
    # may stall a worker for a moment, so the floor is looser than the ceiling).
    rate = (len(times) - 1) / (times[-1] - times[0])
    print(
        f"rate limit: busiest {window_s:.0f}s window {busiest} (ceiling {ceiling:.0f}), "
        f"mean {rate:.2f}/s"
    )
    assert busiest <= 1.1 * ceiling, f"{busiest} completions in one {window_s:.0f}s window"
    assert 0.7 * 5.0 <= rate <= 1.1 * 5.0, f"mean rate {rate:.2f}/s"
    pids = {pid for _, pid, _ in stamps}
    assert len(pids) >= 3, f"the load ran on {len(pids)} processes only"
