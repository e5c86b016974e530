"""In-flight counts in Redis follow a real worker: up while busy, 0 after, gone on death."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import redis
from celery import Celery

from contract import keys
from contract.inflight import decode as decode_inflight
from contract.inflight import read_inflight
from tests.integration.observability.helpers import start_worker
from tests.support.procs import ProcessTracker, wait_for


def now_ms() -> int:
    return int(time.time() * 1000)


def counts(client: redis.Redis, queue: str) -> dict[str, int]:
    return read_inflight(client, [queue, "other"], now_ms())[queue]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("pool", "concurrency", "tasks", "held"),
    [("prefork", 2, 4, 2), ("gevent", 4, 3, 3)],
)
def test_counts_follow_the_tasks_a_worker_holds(
    pool: str,
    concurrency: int,
    tasks: int,
    held: int,
    procs: ProcessTracker,
    worker_env: dict[str, str],
    stock_client: Celery,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    worker = start_worker(
        procs,
        worker_env,
        tmp_path,
        queue="acct",
        pool=pool,
        concurrency=concurrency,
        worker_id=f"pod-{pool}",
    )
    wait_for(
        lambda: (
            counts(redis_client, "acct")
            == {"pod-prefork" if pool == "prefork" else "pod-gevent": 0}
        ),
        timeout_s=10,
        message="idle worker registered with 0",
    )
    results = [
        stock_client.send_task("shoal.slow", args=[3, "x"], queue="acct") for _ in range(tasks)
    ]
    wait_for(
        lambda: counts(redis_client, "acct").get(worker.worker_id) == held,
        timeout_s=20,
        message=f"{held} tasks in flight",
    )
    assert counts(redis_client, "other") == {}
    for result in results:
        result.get(timeout=60)
    wait_for(
        lambda: counts(redis_client, "acct").get(worker.worker_id) == 0,
        timeout_s=10,
        message="0 in flight after the tasks",
    )
    wait_for(
        lambda: redis_client.hget(keys.stats("acct"), "completed") == str(tasks).encode(),
        timeout_s=10,
        message=f"{tasks} completions",
    )
    worker.proc.signal(signal.SIGTERM)
    assert worker.proc.wait(30) is not None
    assert redis_client.hgetall(keys.inflight("acct")) == {}, "a clean exit removes its entry"
    assert redis_client.hget(keys.stats("acct"), "completed") == str(tasks).encode()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("pool", ["prefork", "gevent"])
def test_a_killed_workers_count_expires(
    pool: str,
    procs: ProcessTracker,
    worker_env: dict[str, str],
    stock_client: Celery,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    worker = start_worker(
        procs, worker_env, tmp_path, queue="doomed", pool=pool, concurrency=2, worker_id="pod-x"
    )
    for _ in range(2):
        stock_client.send_task("shoal.slow", args=[30, "x"], queue="doomed")
    wait_for(
        lambda: counts(redis_client, "doomed").get("pod-x") == 2,
        timeout_s=20,
        message="2 in flight",
    )
    worker.proc.kill_group(signal.SIGKILL)
    worker.proc.wait(10)
    killed_at = now_ms()
    raw = redis_client.hget(keys.inflight("doomed"), "pod-x")
    assert raw is not None, "nobody deletes the entry of a killed worker"
    assert decode_inflight(raw, killed_at) == 2
    expires_at = int(raw.split()[1])
    assert expires_at - killed_at <= 3 * 500 + 1000, "expiry is about 3 heartbeats ahead"
    wait_for(
        lambda: "pod-x" not in counts(redis_client, "doomed"),
        timeout_s=5,
        message="the dead worker's count to expire",
    )
    assert decode_inflight(raw, now_ms()) == 0
