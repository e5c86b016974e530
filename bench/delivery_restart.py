"""Redis killed mid-burst and started again from its append-only file (``bench.delivery_soak``).

Per round: 1,500 ``delivery.work`` tasks (results stored), two workers, Redis SIGKILLed once a
fifth is done, started again 10 s later on the same port and directory. Counted: tasks never
done (lost), results other than SUCCESS for completed tasks, dead letters, tasks started twice.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from contract import keys
from tests.support import soak
from tests.support.procs import Proc, wait_for, worker_argv
from tests.support.redis_server import RedisServer

TOTAL = 1500
OUTAGE_S = 10.0
QUEUE = "outage"


def _states(client: redis.Redis, ids: list[str]) -> dict[str, str]:
    pipe = client.pipeline(transaction=False)
    for task_id in ids:
        pipe.get(f"celery-task-meta-{task_id}")
    return {
        task_id: json.loads(raw)["status"] if raw else "MISSING"
        for task_id, raw in zip(ids, pipe.execute(), strict=True)
    }


def one_round(
    server: RedisServer, work: Path, pool: str, n: int, env: Callable[..., dict[str, str]]
) -> dict[str, Any]:
    client = server.client()
    client.flushall()
    record = work / f"restart-{pool}-{n}.txt"
    app = Celery("bench", broker=server.url, backend=server.url, set_as_current=False)
    task_s, concurrency = (0.02, 2) if pool == "prefork" else (0.2, 20)
    with app.producer_or_acquire() as producer:
        ids = [
            app.send_task("delivery.work", args=[f"t{i}", task_s], queue=QUEUE,
                          producer=producer).id
            for i in range(TOTAL)
        ]  # fmt: skip
    app.close()
    workers = [
        Proc(
            worker_argv(QUEUE, pool, concurrency),
            env=env(server.url, work, f"r{pool}{n}w{w}", record),
            log=work / f"restart-{pool}-{n}-{w}.log",
        )
        for w in range(2)
    ]

    def done() -> set[str]:
        return {t for k, t, _, _ in soak.events(record) if k == "done"}

    try:
        wait_for(lambda: len(done()) >= TOTAL // 5, timeout_s=120, message="a fifth done")
        assert server.proc is not None
        server.proc.kill_group(signal.SIGKILL)
        server.proc.wait(10)
        time.sleep(OUTAGE_S)
        server.start()
        client = server.client()
        started = time.monotonic()
        with contextlib.suppress(AssertionError):  # counted below as lost
            wait_for(lambda: len(done()) >= TOTAL, timeout_s=300, interval_s=0.5, message="all")
        recovery_s = time.monotonic() - started
        time.sleep(2)  # the last results
        states = _states(client, ids)
    finally:
        for proc in workers:
            proc.stop(grace_s=10.0)
    events = soak.events(record)
    done_tags = {t for k, t, _, _ in events if k == "done"}
    starts = Counter(t for k, t, _, _ in events if k == "start")
    return {
        "pool": pool,
        "round": n + 1,
        "tasks": TOTAL,
        "lost": TOTAL - len(done_tags),
        "false_failures": sum(1 for s in states.values() if s == "FAILURE"),
        "missing_results": sum(1 for s in states.values() if s == "MISSING"),
        "dead_letters": int(client.llen(keys.dead_letter(QUEUE))),
        "started_twice": sum(1 for c in starts.values() if c > 1),
        "drained_after_restart_s": round(recovery_s, 1),
    }


def run(
    server: RedisServer, work: Path, *, rounds: int, env: Callable[..., dict[str, str]]
) -> list[dict[str, Any]]:
    out = []
    for pool in ("prefork", "gevent"):
        for n in range(rounds):
            row = one_round(server, work, pool, n, env)
            print(f"  restart {json.dumps(row)}", flush=True)
            out.append(row)
    return out
