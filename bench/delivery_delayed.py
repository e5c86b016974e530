"""Delayed tasks wait in Redis (``bench.delivery_soak``): a worker parks ``count`` tasks with a
countdown (its memory before, at its peak, and after), then, once they are due,
:func:`contract.delayed.promote` (what every worker's keeper and the autoscaler call) moves them
back to the front of their list: tasks a second.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from bench import drain
from contract import census, delayed
from tests.support.procs import Proc, wait_for, worker_argv
from tests.support.redis_server import RedisServer

QUEUE = "later"
PARK_MARGIN_S = 60.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def publish_delayed(client: redis.Redis, template: dict[str, Any], count: int, due: float) -> None:
    """``count`` copies of a stock client's message, each with its own id and ``eta``."""
    eta = datetime.fromtimestamp(due, UTC).isoformat()
    headers = dict(template["headers"], eta=eta)
    properties = dict(template["properties"])
    for start in range(0, count, 2000):
        batch = []
        for _ in range(min(2000, count - start)):
            task_id = str(uuid.uuid4())
            headers.update(id=task_id, root_id=task_id)
            properties.update(correlation_id=task_id, delivery_tag=str(uuid.uuid4()))
            batch.append(json.dumps({**template, "headers": headers, "properties": properties}))
        client.lpush(QUEUE, *batch)


def run(
    server: RedisServer, work: Path, *, count: int, env: Callable[..., dict[str, str]]
) -> dict[str, Any]:
    client = server.client()
    client.flushall()
    template = drain.message_template(server.url, QUEUE, "shoal.noop", [])
    worker = Proc(
        worker_argv(QUEUE, "prefork", 2),
        env=env(server.url, work, "delayed", work / "delayed.txt"),
        log=work / "delayed-worker.log",
    )
    try:
        wait_for(lambda: client.zcard("shoal:workers") > 0, timeout_s=90, message="the worker")
        time.sleep(2)
        before = rss_mb(worker.pid)
        due = time.time() + PARK_MARGIN_S + count / 2000
        publish_delayed(client, template, count, due)
        started, peak = time.monotonic(), before

        def parked() -> bool:
            nonlocal peak
            peak = max(peak, rss_mb(worker.pid))
            return census.read(client, [QUEUE])[QUEUE].delayed >= count

        wait_for(parked, timeout_s=600, interval_s=0.5, message="every task parked")
        park_s = time.monotonic() - started
        after = rss_mb(worker.pid)
    finally:
        worker.stop(grace_s=10.0)
    time.sleep(max(0.0, due - delayed.PROMOTE_LEAD_MS / 1000 - time.time()) + 0.5)
    t0 = time.perf_counter()
    moved = delayed.promote(client, [QUEUE])
    promote_s = time.perf_counter() - t0
    row = {
        "count": count,
        "parked_per_s": round(count / park_s, 0),
        "rss_before_mb": round(before, 1),
        "rss_peak_mb": round(peak, 1),
        "rss_after_mb": round(after, 1),
        "moved": moved,
        "back_in_list": int(client.llen(QUEUE)),
        "promote_s": round(promote_s, 3),
        "promote_per_s": round(moved / promote_s, 0) if promote_s else 0.0,
    }
    print(f"  delayed {json.dumps(row)}", flush=True)
    return row
