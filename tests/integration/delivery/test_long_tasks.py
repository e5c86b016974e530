"""A worker that lives keeps what it holds, however long a task runs: with a 6 s liveness timeout
and a second worker waiting, a 20 s task runs once. Under gevent too while the task keeps the CPU
busy without yielding (the heartbeat runs in an OS thread, not a greenlet)."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery import Celery

from tests.integration.delivery.records import counts, done_tags
from tests.support.procs import ProcessTracker, wait_for

LIVENESS_S = 6
RUN_S = 20.0


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("pool", "task"), [("prefork", "delivery.work"), ("gevent", "delivery.spin")]
)
def test_a_task_longer_than_the_liveness_timeout_runs_once(
    procs: ProcessTracker,
    aof_env: dict[str, str],
    aof_celery: Celery,
    record_file: Path,
    pool: str,
    task: str,
) -> None:
    env = {**aof_env, "SHOAL_LIVENESS_TIMEOUT_S": str(LIVENESS_S)}
    procs.worker("long", env=env, pool=pool, concurrency=1, name="holder")
    aof_celery.send_task(task, args=["long", RUN_S], queue="long")
    wait_for(lambda: counts(record_file, "start")["long"] == 1, timeout_s=90, message="a start")
    procs.worker("long", env=env, pool=pool, concurrency=1, name="idle")  # would take it over
    wait_for(lambda: "long" in done_tags(record_file), timeout_s=120, message="the task done")
    assert counts(record_file, "start")["long"] == 1
    assert counts(record_file, "done")["long"] == 1
