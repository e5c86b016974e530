"""Prometheus metrics of a worker, correct under prefork (multiprocess mode) and gevent.

Task counters and histograms are recorded where the task runs (a prefork child, or the gevent
process) from Celery's task signals; the in-flight and pool-size gauges are set by the main
process every tick. Under prefork every process writes its own files in
``PROMETHEUS_MULTIPROC_DIR`` (a fresh directory per worker when unset); the main process
cleans the directory at start and serves the sum of all files on ``GET /metrics``.

``prometheus_client`` picks its value class when first imported, so this module imports it
only inside :func:`setup`, after the directory is prepared.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("shoal.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
RUNTIME_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
WAIT_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
COUNTERS = ("started", "succeeded", "failed", "retried", "dead_lettered")


class Metrics:
    """The worker's metric objects; created once in the main process, inherited by children."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        labels = ("queue", "task")
        self.counters: dict[str, Any] = {
            name: Counter(f"shoal_tasks_{name}", f"Tasks {name.replace('_', '-')}.", labels)
            for name in COUNTERS
        }
        self.runtime = Histogram(
            "shoal_task_runtime_seconds", "Task run time.", labels, buckets=RUNTIME_BUCKETS_S
        )
        self.queue_wait = Histogram(
            "shoal_task_queue_wait_seconds",
            "Time from publishing (the published_at header) to the start of the task.",
            ("queue",),
            buckets=WAIT_BUCKETS_S,
        )
        self.in_flight = Gauge(
            "shoal_tasks_in_flight",
            "Tasks this worker holds (reserved and running), per queue.",
            ("queue",),
            multiprocess_mode="livesum",
        )
        self.pool_size = Gauge(
            "shoal_pool_size", "Pool size (processes or greenlets).", multiprocess_mode="livesum"
        )
        self._children: dict[tuple[str, str, str], Any] = {}
        self._started_at: dict[str, float] = {}

    def _counter(self, name: str, queue: str, task: str) -> Any:
        key = (name, queue, task)
        child = self._children.get(key)
        if child is None:
            parent = self.runtime if name == "runtime" else self.counters[name]
            child = self._children[key] = parent.labels(queue, task)
        return child

    def task_started(self, task_id: str, queue: str, task: str, published_at: object) -> None:
        self._started_at[task_id] = time.monotonic()
        self._counter("started", queue, task).inc()
        wait_s = queue_wait_s(published_at, time.time())
        if wait_s is not None:
            self.queue_wait.labels(queue).observe(wait_s)

    def task_finished(self, task_id: str, queue: str, task: str) -> None:
        started = self._started_at.pop(task_id, None)
        if started is not None:
            self._counter("runtime", queue, task).observe(time.monotonic() - started)

    def count(self, name: str, queue: str, task: str) -> None:
        self._counter(name, queue, task).inc()

    def set_gauges(self, in_flight: Mapping[str, int], pool_size: int | None) -> None:
        for queue, count in in_flight.items():
            self.in_flight.labels(queue).set(count)
        if pool_size is not None:
            self.pool_size.set(pool_size)


_metrics: Metrics | None = None
_owned_dir: Path | None = None
_lock = threading.Lock()


def queue_wait_s(published_at: object, now: float) -> float | None:
    """Seconds since ``published_at`` (epoch seconds, number or numeric text); None if absent."""
    if published_at is None or isinstance(published_at, bool):
        return None
    try:
        value = float(published_at)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if value != value or value <= 0:  # NaN or nonsense
        return None
    return max(0.0, now - value)


def prepare_dir(env: Mapping[str, str], *, prefork: bool, pid: int) -> Path | None:
    """The multiprocess directory to use (created, emptied); None for single-process mode."""
    raw = env.get(MULTIPROC_ENV)
    if not raw and not prefork:
        return None
    path = Path(raw) if raw else Path(tempfile.gettempdir()) / f"shoal-prometheus-{pid}"
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    return path


def setup(*, prefork: bool) -> Metrics:
    """Main process, before the pool starts: prepare the directory, then create the metrics."""
    global _metrics, _owned_dir
    with _lock:
        if _metrics is not None:
            return _metrics
        import sys

        path = prepare_dir(os.environ, prefork=prefork, pid=os.getpid())
        if path is not None:
            if "prometheus_client" in sys.modules and MULTIPROC_ENV not in os.environ:
                log.warning("metrics: prometheus_client was imported early; prefork sums may miss")
            if MULTIPROC_ENV not in os.environ:
                _owned_dir = path
            os.environ[MULTIPROC_ENV] = str(path)
        _metrics = Metrics()
        return _metrics


def cleanup() -> None:
    """At clean exit: remove the multiprocess directory if this worker made it up."""
    if _owned_dir is not None:
        import shutil

        shutil.rmtree(_owned_dir, ignore_errors=True)


def current() -> Metrics | None:
    return _metrics


def serve(port: int) -> Any:
    """Serve ``GET /metrics`` on ``port`` from a daemon thread; returns the server."""
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

    registry = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    server, _thread = start_http_server(port, registry=registry)
    return server


def process_exited(pid: int) -> None:
    """A pool child exits: drop its live-gauge files so they no longer count."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def record_dead_lettered(queue: str, task: str, reason: str) -> None:
    """Count a task that went to the dead-letter list (called by ``workers.deadletter``).

    ``reason`` is logged, not a label: reasons carry free text and would explode the series.
    """
    if _metrics is not None:
        _metrics.count("dead_lettered", queue, task or "unknown")
    log.debug("dead-lettered %s from %s: %s", task, queue, reason)
