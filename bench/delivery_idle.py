"""What idle workers cost Redis (``bench.delivery_soak``): ``workers`` idle ``shoal worker``
processes (gevent, one queue), then as many plain Celery gevent workers (BRPOP every second),
each group measured over ``window_s``: Redis's own CPU (``INFO cpu``: used_cpu_sys +
used_cpu_user) as a share of one core, and its commands a second.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from bench import common
from tests.support.procs import Proc, wait_for, worker_argv
from tests.support.redis_server import RedisServer

QUEUE = "idle"
START_BATCH = 10


def redis_cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def commands(client: redis.Redis) -> int:
    return int(client.info("stats")["total_commands_processed"])


def _start(n: int, make: Callable[[int], Proc], ready: Callable[[], int]) -> list[Proc]:
    procs: list[Proc] = []
    for i in range(n):
        procs.append(make(i))
        if len(procs) % START_BATCH == 0 or len(procs) == n:
            target = len(procs)
            wait_for(lambda t=target: ready() >= t, timeout_s=300, message=f"{target} idle")  # type: ignore[misc]
    return procs


def baseline(client: redis.Redis, window_s: float) -> dict[str, Any]:
    """Redis with no worker at all, over the same window."""
    client.flushall()
    cpu_pct, per_s = measure(client, window_s)
    return {"variant": "none", "workers": 0, "window_s": window_s,
            "redis_cpu_pct": round(cpu_pct, 2), "commands_per_s": round(per_s, 1)}  # fmt: skip


def measure(client: redis.Redis, window_s: float) -> tuple[float, float]:
    time.sleep(10)  # start-up traffic settles
    cpu0, cmd0, t0 = redis_cpu_s(client), commands(client), time.monotonic()
    time.sleep(window_s)
    cpu1, cmd1, t1 = redis_cpu_s(client), commands(client), time.monotonic()
    return 100 * (cpu1 - cpu0) / (t1 - t0), (cmd1 - cmd0) / (t1 - t0)


def one(
    variant: str,
    server: RedisServer,
    work: Path,
    workers: int,
    window_s: float,
    env: Callable[..., dict[str, str]],
) -> dict[str, Any]:
    client = server.client()
    client.flushall()

    def make(i: int) -> Proc:
        log = work / f"idle-{variant}-{i}.log"
        if variant == "shoal":
            e = env(server.url, work, f"idle{i}", work / "idle.txt")
            return Proc(worker_argv(QUEUE, "gevent", 1), env=e, log=log)
        # As shoal runs Celery: without gossip and mingle, with the worker heartbeat events.
        argv = [sys.executable, "-m", "celery", "-A", "bench.plain_app", "worker", "-P", "gevent",
                "-c", "1", "-Q", QUEUE, "--without-gossip", "--without-mingle",
                "-n", f"plain{i}@%h"]  # fmt: skip
        return Proc(argv, env=common.child_env(BENCH_BROKER_URL=server.url), log=log)

    def ready() -> int:
        if variant == "shoal":
            return int(client.zcard("shoal:workers"))
        return sum(1 for c in client.client_list() if c.get("cmd") == "brpop")

    procs: list[Proc] = []
    try:
        procs = _start(workers, make, ready)
        cpu_pct, per_s = measure(client, window_s)
    finally:
        for proc in procs:
            proc.signal(15)
        for proc in procs:
            proc.stop(grace_s=20.0)
    row = {
        "variant": variant,
        "workers": workers,
        "window_s": window_s,
        "redis_cpu_pct": round(cpu_pct, 2),
        "commands_per_s": round(per_s, 1),
    }
    print(f"  idle {json.dumps(row)}", flush=True)
    return row


def run(
    server: RedisServer,
    work: Path,
    *,
    workers: int,
    window_s: float,
    env: Callable[..., dict[str, str]],
) -> list[dict[str, Any]]:
    rows = [baseline(server.client(), window_s)]
    rows += [one(v, server, work, workers, window_s, env) for v in ("shoal", "plain")]
    return rows
