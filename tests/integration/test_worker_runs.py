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
    procs.worker("emails", env=worker_env, pool=pool, concurrency=2, name=f"worker-{pool}")
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
    procs.worker("prio", env=worker_env)
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


def _only(replies: dict[str, object] | None) -> object:
    assert replies and len(replies) == 1, f"expected one worker to answer, got {replies!r}"
    return next(iter(replies.values()))


@pytest.mark.timeout(240)
def test_stock_remote_control_and_celerys_own_pool_autoscaler(
    procs: ProcessTracker,
    worker_env: dict[str, str],
    stock_client: Celery,
    redis_client: redis.Redis,
) -> None:
    procs.shoal(
        "worker",
        "--queue",
        "ctl",
        "--pool",
        "prefork",
        "--autoscale",
        "3,1",
        env={**worker_env, "SHOAL_WORKER_ID": "ctl-auto"},
        name="worker",
    )
    inspect = stock_client.control.inspect(timeout=2.0)
    wait_for(lambda: inspect.ping(), timeout_s=90, message="the worker to answer ping")
    stats = _only(inspect.stats())
    assert isinstance(stats, dict)
    assert stats["autoscaler"]["max"] == 3 and stats["autoscaler"]["min"] == 1

    # inspect active sees a running task.
    running = stock_client.send_task("shoal.slow", args=[15, "busy"], queue="ctl")
    active = wait_for(lambda: _only(inspect.active()), timeout_s=60, message="an active task")
    assert isinstance(active, list) and [t["id"] for t in active] == [running.id]

    # add_consumer: the worker starts taking a second queue; cancel_consumer stops it.
    reply = stock_client.control.add_consumer("extra", reply=True, timeout=5.0)
    assert reply and "ok" in next(iter(reply[0].values()))
    assert stock_client.send_task("shoal.record", args=["extra"], queue="extra").get(timeout=60)
    queues = _only(inspect.active_queues())
    assert isinstance(queues, list) and sorted(q["name"] for q in queues) == ["ctl", "extra"]
    stock_client.control.cancel_consumer("extra", reply=True, timeout=5.0)
    queues = _only(inspect.active_queues())
    assert isinstance(queues, list) and [q["name"] for q in queues] == ["ctl"]

    # rate_limit: Celery's per-worker limit is accepted by shoal workers.
    reply = stock_client.control.rate_limit("shoal.noop", "10/m", reply=True, timeout=5.0)
    assert reply and "ok" in next(iter(reply[0].values()))
    assert running.get(timeout=60) == "busy"
