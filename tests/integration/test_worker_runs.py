"""Real worker processes on real Redis run tasks from named queues."""

from __future__ import annotations

import pytest
import redis
from celery import Celery

from tests.support.procs import ProcessTracker, wait_for


@pytest.mark.parametrize("pool", ["prefork", "gevent"])
def test_pool_runs_tasks_from_its_named_queue(
    pool: str, procs: ProcessTracker, worker_env: dict[str, str], stock_client: Celery
) -> None:
    results = [stock_client.send_task("shoal.cpu", args=[10], queue="emails") for _ in range(5)]
    procs.shoal(
        "worker",
        "--queue",
        "emails",
        "--pool",
        pool,
        "--concurrency",
        "2",
        env=worker_env,
        name=f"worker-{pool}",
    )
    values = [r.get(timeout=60) for r in results]
    assert len(set(values)) == 1 and len(values[0]) == 64


def test_priority_nine_runs_before_zero_for_a_stock_client(
    procs: ProcessTracker,
    worker_env: dict[str, str],
    stock_client: Celery,
    redis_client: redis.Redis,
) -> None:
    for i in range(4):
        stock_client.send_task("shoal.record", args=[f"low-{i}"], queue="prio", priority=0)
    for i in range(4):
        stock_client.send_task("shoal.record", args=[f"mid-{i}"], queue="prio", priority=5)
    for i in range(4):
        stock_client.send_task("shoal.record", args=[f"high-{i}"], queue="prio", priority=9)
    procs.shoal(
        "worker",
        "--queue",
        "prio",
        "--pool",
        "prefork",
        "--concurrency",
        "1",
        env=worker_env,
        name="worker",
    )
    wait_for(
        lambda: redis_client.llen("shoal:test:record") == 12,
        timeout_s=60,
        message="12 recorded tasks",
    )
    order = [
        e.decode().split("|")[0].split("-")[0]
        for e in redis_client.lrange("shoal:test:record", 0, -1)
    ]
    assert order == ["high"] * 4 + ["mid"] * 4 + ["low"] * 4
