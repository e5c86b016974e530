"""Messages a stock worker (or an older shoal) left in kombu's ``unacked`` hash are still
restored, after the visibility timeout, as kombu would: a shoal worker sweeps them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import redis
from celery import Celery

from tests.integration.delivery.records import counts, done_tags
from tests.support.procs import ProcessTracker, wait_for

QUEUE = "legacy"
VISIBILITY_S = 5


def _leave_unacked(client: redis.Redis, app: Celery, tag: str, at: float) -> None:
    """What a stock worker killed after taking ``tag`` leaves behind."""
    app.send_task("delivery.work", args=[tag, 0], queue=QUEUE, ignore_result=True)
    raw = client.rpop(QUEUE)
    assert raw is not None
    payload = json.loads(raw)
    info = payload["properties"]["delivery_info"]
    delivery_tag = payload["properties"]["delivery_tag"]
    client.hset(
        "unacked", delivery_tag, json.dumps([payload, info["exchange"], info["routing_key"]])
    )
    client.zadd("unacked_index", {delivery_tag: at})


def test_entries_in_kombus_unacked_hash_come_back_after_the_visibility_timeout(
    procs: ProcessTracker,
    aof_env: dict[str, str],
    aof_client: redis.Redis,
    aof_celery: Celery,
    record_file: Path,
) -> None:
    _leave_unacked(aof_client, aof_celery, "old", time.time() - 100)
    fresh_at = time.time()
    _leave_unacked(aof_client, aof_celery, "fresh", fresh_at)
    env = {
        **aof_env,
        "SHOAL_VISIBILITY_TIMEOUT_S": str(VISIBILITY_S),
        "SHOAL_TASK_TIME_LIMIT_S": "4",
        "SHOAL_TASK_SOFT_TIME_LIMIT_S": "3",
    }
    procs.worker(QUEUE, env=env, name="w")
    wait_for(lambda: "old" in done_tags(record_file), timeout_s=90, message="the old entry run")
    wait_for(lambda: "fresh" in done_tags(record_file), timeout_s=60, message="the fresh one")
    fresh_start = next(
        float(line.split()[3])
        for line in record_file.read_text().splitlines()
        if line.startswith("start fresh ")
    )
    assert fresh_start >= fresh_at + VISIBILITY_S  # not before its visibility timeout
    assert counts(record_file, "start") == {"old": 1, "fresh": 1}
    wait_for(lambda: aof_client.hlen("unacked") == 0, timeout_s=30, message="acked")
