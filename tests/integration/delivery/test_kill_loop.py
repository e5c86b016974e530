"""SIGKILL while bursts flow (whole process group, or the main process only; prefork and gevent):
no task is lost, and every task the killed worker held starts again within 30 s (the default
liveness timeout of 15 s, then a beat of a live worker). The long version is
``bench/delivery_soak.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import soak
from tests.support.procs import ProcessTracker
from tests.support.redis_server import RedisServer

RESTART_LIMIT_S = 30.0


@pytest.mark.timeout(420)
@pytest.mark.parametrize(
    ("pool", "mode"), [("prefork", "group"), ("prefork", "main"), ("gevent", "group")]
)
def test_a_kill_loop_loses_no_task_and_restarts_what_the_dead_held(
    procs: ProcessTracker,
    aof_env: dict[str, str],
    aof_redis: RedisServer,
    record_file: Path,
    pool: str,
    mode: str,
) -> None:
    concurrency, task_s = (2, 0.01) if pool == "prefork" else (20, 0.2)
    config = soak.SoakConfig(
        pool=pool, concurrency=concurrency, kill_mode=mode, kills=4, task_s=task_s
    )

    def start(worker_id: str):  # type: ignore[no-untyped-def]
        env = {**aof_env, "SHOAL_WORKER_ID": worker_id}
        return procs.worker(soak.QUEUE, env=env, pool=pool, concurrency=concurrency, name=worker_id)

    report = soak.run(aof_redis.url, record_file, config, start, drain_timeout_s=180)
    summary = report.summary()
    assert report.lost == [], summary
    assert report.held_at_kills > 0, "no kill landed while the worker held tasks"
    assert report.not_restarted == [], summary
    assert report.started_twice_unheld == 0, summary  # nothing a live worker held ran twice
    assert max(report.restart_delays_s) < RESTART_LIMIT_S, summary
