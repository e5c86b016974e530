"""Helpers for the observability tests: start a worker with its own ports and health file."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import free_port
from tests.support.procs import Proc, ProcessTracker, wait_for
from workers import health


@dataclass
class Worker:
    proc: Proc
    env: dict[str, str]
    health_file: Path
    metrics_port: int
    health_port: int
    worker_id: str


def start_worker(
    procs: ProcessTracker,
    worker_env: dict[str, str],
    tmp_path: Path,
    *,
    queue: str,
    pool: str,
    concurrency: int,
    worker_id: str,
    extra_env: dict[str, str] | None = None,
    wait_ready: bool = True,
) -> Worker:
    metrics_port, health_port = free_port(), free_port()
    health_file = tmp_path / f"health-{worker_id}"
    env = dict(worker_env)
    env.update(
        SHOAL_WORKER_ID=worker_id,
        SHOAL_METRICS_PORT=str(metrics_port),
        SHOAL_HEALTH_PORT=str(health_port),
        SHOAL_HEALTH_FILE=str(health_file),
        SHOAL_HEARTBEAT_INTERVAL_S="0.5",
    )
    env.update(extra_env or {})
    proc = procs.worker(
        queue, env=env, pool=pool, concurrency=concurrency, name=f"worker-{worker_id}"
    )
    worker = Worker(proc, env, health_file, metrics_port, health_port, worker_id)
    if wait_ready:
        wait_until_ready(worker)
    return worker


def wait_until_ready(worker: Worker, timeout_s: float = 60) -> None:
    def ready() -> bool:
        assert worker.proc.alive(), "worker exited:\n" + worker.proc.output()[-3000:]
        snap = health.read_file(worker.health_file)
        return snap is not None and snap.phase is health.Phase.CONSUMING

    wait_for(ready, timeout_s=timeout_s, interval_s=0.2, message="worker consuming")


def http_get(port: int, path: str, timeout_s: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout_s) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
