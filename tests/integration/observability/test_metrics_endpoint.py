"""The metrics endpoint of a real worker: valid for promtool, counters with the right values."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.observability.helpers import http_get, start_worker
from tests.support.procs import ProcessTracker, wait_for
from tests.support.tools import require_tool


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


@pytest.mark.timeout(150)
@pytest.mark.parametrize(
    ("pool", "multiproc"),
    [("prefork", True), ("gevent", True), ("gevent", False), ("prefork", False)],
)
def test_metrics_count_what_ran(
    pool: str,
    multiproc: bool,
    procs: ProcessTracker,
    worker_env: dict[str, str],
    stock_client: Celery,
    tmp_path: Path,
) -> None:
    promtool = require_tool("promtool")
    env = dict(worker_env)
    if not multiproc:  # gevent: in-process registry; prefork: a directory of its own
        env.pop("PROMETHEUS_MULTIPROC_DIR")
    worker = start_worker(
        procs, env, tmp_path, queue="metered", pool=pool, concurrency=2, worker_id="m"
    )
    results = [stock_client.send_task("shoal.noop", queue="metered") for _ in range(3)]
    results += [
        stock_client.send_task("shoal.fail", args=["expected"], queue="metered") for _ in range(2)
    ]
    results.append(
        stock_client.send_task(
            "shoal.noop", queue="metered", headers={"published_at": time.time() - 5.0}
        )
    )
    stock_client.send_task("no.such.task", queue="metered")
    for result in results:
        result.get(timeout=60, propagate=False)

    def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        code, body = http_get(worker.metrics_port, "/metrics")
        found = samples(body) if code == 200 else {}
        done = value(found, "shoal_tasks_succeeded_total", queue="metered", task="shoal.noop")
        in_flight = value(found, "shoal_tasks_in_flight", queue="metered")
        dead = value(found, "shoal_tasks_dead_lettered_total", queue="metered", task="no.such.task")
        return found if done == 4 and in_flight == 0 and dead == 1 else None

    found = wait_for(scrape, timeout_s=20, message="4 successes, 1 dead letter, 0 in flight")
    assert isinstance(found, dict)
    noop, fail = (
        {"queue": "metered", "task": "shoal.noop"},
        {"queue": "metered", "task": "shoal.fail"},
    )
    assert value(found, "shoal_tasks_started_total", **noop) == 4
    assert value(found, "shoal_tasks_started_total", **fail) == 2
    assert value(found, "shoal_tasks_failed_total", **fail) == 2
    assert value(found, "shoal_tasks_succeeded_total", **fail) is None
    assert value(found, "shoal_tasks_failed_total", **noop) is None
    assert value(found, "shoal_task_runtime_seconds_count", **noop) == 4
    assert value(found, "shoal_task_runtime_seconds_count", **fail) == 2
    wait_count = value(found, "shoal_task_queue_wait_seconds_count", queue="metered")
    assert wait_count == 1, "only the message with a published_at header is measured"
    wait_sum = value(found, "shoal_task_queue_wait_seconds_sum", queue="metered")
    assert wait_sum is not None and 5.0 <= wait_sum < 65.0
    assert value(found, "shoal_pool_size") == 2

    _code, text = http_get(worker.metrics_port, "/metrics")
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr

    own_dir = Path(tempfile.gettempdir()) / f"shoal-prometheus-{worker.proc.pid}"
    assert own_dir.is_dir() is (pool == "prefork" and not multiproc)
    worker.proc.signal(signal.SIGTERM)
    assert worker.proc.wait(30) is not None
    assert not own_dir.exists(), "a clean exit removes the directory it made up"


@pytest.mark.timeout(120)
def test_retries_are_counted(
    procs: ProcessTracker, worker_env: dict[str, str], stock_client: Celery, tmp_path: Path
) -> None:
    worker = start_worker(
        procs,
        worker_env,
        tmp_path,
        queue="retrying",
        pool="prefork",
        concurrency=1,
        worker_id="r",
        extra_env={"SHOAL_IMPORTS": "tests.integration.observability.retry_tasks"},
    )
    stock_client.send_task("obs.retry_twice", queue="retrying").get(timeout=60, propagate=False)
    labels = {"queue": "retrying", "task": "obs.retry_twice"}

    def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        found = samples(http_get(worker.metrics_port, "/metrics")[1])
        return found if value(found, "shoal_tasks_failed_total", **labels) == 1 else None

    found = wait_for(scrape, timeout_s=20, message="the final failure counted")
    assert isinstance(found, dict)
    assert value(found, "shoal_tasks_started_total", **labels) == 3
    assert value(found, "shoal_tasks_retried_total", **labels) == 2
    assert value(found, "shoal_tasks_succeeded_total", **labels) is None
