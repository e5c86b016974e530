"""Redis killed and started again (append-only file, fsync always) in the middle of a burst:
no task is lost, and no task whose body completed is recorded as FAILURE or dead-lettered."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import redis
from celery import Celery

from contract import keys
from tests.integration.delivery.records import counts, done_tags
from tests.support.procs import ProcessTracker, wait_for
from tests.support.redis_server import RedisServer

TOTAL = 1500
OUTAGE_S = 10.0


def _publish(app: Celery, queue: str, total: int, seconds: float) -> list[str]:
    ids = []
    with app.producer_or_acquire() as producer:
        for i in range(total):
            result = app.send_task(
                "delivery.work", args=[f"t{i}", seconds], queue=queue, producer=producer
            )
            ids.append(result.id)
    return ids


def _states(client: redis.Redis, ids: list[str]) -> dict[str, str]:
    pipe = client.pipeline(transaction=False)
    for task_id in ids:
        pipe.get(f"celery-task-meta-{task_id}")
    states = {}
    for task_id, raw in zip(ids, pipe.execute(), strict=True):
        states[task_id] = json.loads(raw)["status"] if raw else "MISSING"
    return states


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("pool", "concurrency"), [("prefork", 2), ("gevent", 20)])
def test_a_redis_restart_mid_burst_loses_nothing_and_fails_nothing(
    procs: ProcessTracker,
    aof_env: dict[str, str],
    aof_redis: RedisServer,
    aof_client: redis.Redis,
    aof_celery: Celery,
    record_file: Path,
    pool: str,
    concurrency: int,
) -> None:
    ids = _publish(aof_celery, "outage", TOTAL, 0.02 if pool == "prefork" else 0.2)
    for n in range(2):
        procs.worker("outage", env=aof_env, pool=pool, concurrency=concurrency, name=f"w{n}")
    wait_for(lambda: len(done_tags(record_file)) >= TOTAL // 5, timeout_s=90, message="a fifth")

    assert aof_redis.proc is not None
    aof_redis.proc.kill_group(signal.SIGKILL)  # no shutdown save: only the AOF survives
    aof_redis.proc.wait(10)
    time.sleep(OUTAGE_S)
    aof_redis.start()

    wait_for(
        lambda: len(done_tags(record_file)) >= TOTAL,
        timeout_s=180,
        message=f"all {TOTAL} tasks done",
    )
    assert all(p.alive() for p in procs.procs), "a worker died over the outage"
    assert done_tags(record_file) == {f"t{i}" for i in range(TOTAL)}
    states = wait_for(
        lambda: (s := _states(aof_client, ids)) and "MISSING" not in s.values() and s,
        timeout_s=60,
        message="every result written",
    )
    assert isinstance(states, dict)
    failed = [i for i, s in states.items() if s != "SUCCESS"]
    assert failed == [], (
        f"{len(failed)} completed tasks recorded as {set(states[i] for i in failed)}"
    )
    assert aof_client.llen(keys.dead_letter("outage")) == 0
    assert max(counts(record_file, "start").values()) >= 1
