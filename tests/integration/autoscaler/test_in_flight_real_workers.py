"""In-flight counts follow real workers holding tasks (the workers' accounting, our reader)."""

from __future__ import annotations

import pytest
import redis
from celery import Celery

from scheduler.autoscaler.redis_source import RedisSource
from tests.support.procs import ProcessTracker, wait_for

pytestmark = pytest.mark.integration


@pytest.mark.timeout(180)
def test_in_flight_follows_a_prefork_worker_holding_slow_tasks(
    procs: ProcessTracker,
    worker_env: dict[str, str],
    stock_client: Celery,
    redis_client: redis.Redis,
) -> None:
    for i in range(4):
        stock_client.send_task("shoal.slow", args=[6.0, f"t{i}"], queue="held")
    source = RedisSource(redis_client)
    assert source.observe(["held"])["held"].backlog == 4
    env = {**worker_env, "SHOAL_WORKER_ID": "held-worker-1", "SHOAL_HEARTBEAT_INTERVAL_S": "0.5"}
    procs.worker("held", env=env, concurrency=2, name="w")

    def holding_two() -> bool:
        reading = source.observe(["held"])["held"]
        return reading.in_flight == 2 and reading.backlog == 2

    wait_for(holding_two, timeout_s=90, interval_s=0.2, message="2 held by the worker, 2 waiting")

    def all_done() -> bool:
        reading = source.observe(["held"])["held"]
        completed = int(redis_client.hget("shoal:stats:held", "completed") or 0)
        return reading.in_flight == 0 and reading.backlog == 0 and completed == 4

    wait_for(all_done, timeout_s=90, interval_s=0.2, message="4 completed, none in flight")
