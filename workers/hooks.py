"""The one place where the worker's concerns are hooked into Celery's signals and bootsteps.

Main process: ``worker_init`` starts metrics, Sentry, the health and metrics HTTP servers and the
in-flight writer thread; a consumer bootstep runs :meth:`Runtime.tick` on the consumer's timer
(the main loop) and marks readiness; ``task_received`` counts arrivals; ``worker_shutdown``
removes this worker's in-flight entries. Where tasks run (prefork child or gevent process):
the task signals feed the metrics. Every logging handler gets the secret-masking filter.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable
from typing import Any

from celery import Celery, bootsteps, signals
from celery.worker import state as worker_state

from contract.pools import Pool
from contract.queues import DEFAULT_QUEUE
from workers import health, inflight, metrics, redact, sentry_setup
from workers.settings import WorkerSettings

log = logging.getLogger("shoal.hooks")

TICK_MAX_S = 0.5


class Runtime:
    """The worker's observability state in the main process (health, accounting, metrics)."""

    def __init__(self, app: Celery, settings: WorkerSettings) -> None:
        self.app = app
        self.settings = settings
        self.health = health.HealthState(
            max_age_s=health.default_max_age_s(settings.heartbeat_interval_s)
        )
        self.health_file = health.health_file_path()
        self.accounting = inflight.Accounting(settings.queues)
        self.publisher: inflight.Publisher | None = None
        self.metrics: metrics.Metrics | None = None
        self.pool: Any = None
        self.servers: list[Any] = []
        self.started = False

    # -- main process, worker_init ---------------------------------------------------------
    def start(self) -> None:
        if self.started:
            return
        self.started = True
        s = self.settings
        self.health.set_phase(health.Phase.STARTING, time.time())
        self.metrics = metrics.setup(prefork=s.pool is Pool.PREFORK)
        sentry_setup.init(s)
        self._listen("SHOAL_METRICS_PORT", s.metrics_port, metrics.serve)
        self._listen("SHOAL_HEALTH_PORT", s.health_port, lambda p: health.serve(self.health, p))
        self.publisher = inflight.Publisher(
            client_factory=self._redis_client,
            worker_id=s.worker_id,
            queues=s.queues,
            heartbeat_interval_s=s.heartbeat_interval_s,
            on_beat=self._write_health_file,
        )
        self.publisher.start()

    def _listen(self, setting: str, port: int, serve: Any) -> None:
        """Start one HTTP endpoint (0: off); a port in use stops the worker with one line."""
        if not port:
            return
        try:
            self.servers.append(serve(port))
        except OSError as exc:
            print(
                f"shoal worker: cannot listen on {setting}={port}: {exc.strerror}", file=sys.stderr
            )
            raise SystemExit(2) from None

    def _redis_client(self) -> Any:
        return self.settings.redis.connect()

    def _write_health_file(self) -> None:
        try:
            health.write_file(self.health_file, self.health.snapshot())
        except OSError as exc:
            log.debug("health file %s not written: %s", self.health_file, exc)

    # -- main loop ------------------------------------------------------------------------
    def tick(self) -> None:
        """On the consumer's timer: prove the loop turns, count what this worker holds."""
        self.health.beat(time.time())
        tally = self.accounting.tally(
            worker_state.reserved_requests, list(worker_state.requests.values())
        )
        if self.publisher is not None:
            self.publisher.offer(tally)
        if self.metrics is not None:
            size = getattr(self.pool, "num_processes", None) if self.pool is not None else None
            self.metrics.set_gauges(tally.inflight, size if isinstance(size, int) else None)

    def consuming(self, pool: Any) -> None:
        self.pool = pool
        self.health.set_phase(health.Phase.CONSUMING, time.time())
        self.tick()

    def consumer_stopped(self) -> None:
        if self.health.phase is not health.Phase.STOPPING:
            self.health.set_phase(health.Phase.RECONNECTING, time.time())

    def shutting_down(self) -> None:
        self.health.set_phase(health.Phase.STOPPING, time.time())

    def shutdown(self) -> None:
        """Clean exit: last completions and removal of this worker's in-flight entries."""
        if not self.started:
            return
        self.tick()
        if self.publisher is not None:
            self.publisher.stop()
            self.publisher = None
        for server in self.servers:
            server.shutdown()
        self.servers.clear()
        health.remove_file(self.health_file)
        metrics.cleanup()
        sentry_setup.flush()


def consumer_step(runtime: Runtime) -> type[bootsteps.StartStopStep]:
    """A consumer bootstep: after the task consumer started, tick on the main loop's timer."""

    class ShoalHeartbeat(bootsteps.StartStopStep):  # type: ignore[misc]
        requires = ("celery.worker.consumer.tasks:Tasks",)

        def __init__(self, parent: Any, **kwargs: Any) -> None:
            super().__init__(parent, **kwargs)
            self.entry: Any = None

        def start(self, c: Any) -> None:
            _watch_on_close(c, runtime)
            if self.entry is not None:
                c.timer.cancel(self.entry)
            interval = min(TICK_MAX_S, runtime.settings.heartbeat_interval_s)
            self.entry = c.timer.call_repeatedly(interval, runtime.tick, priority=10)
            runtime.consuming(c.pool)

        def stop(self, c: Any) -> None:
            runtime.consumer_stopped()

        def shutdown(self, c: Any) -> None:
            if self.entry is not None:
                c.timer.cancel(self.entry)
                self.entry = None

    return ShoalHeartbeat


def _watch_on_close(c: Any, runtime: Runtime) -> None:
    """On connection loss Celery drops reserved, unstarted requests (Redis redelivers them):
    count them as given back, not as completed."""
    if getattr(c, "_shoal_on_close", False):
        return
    original = c.on_close

    def on_close() -> None:
        running = set(worker_state.active_requests)
        dropped = [
            r
            for r in (*worker_state.reserved_requests, *worker_state.scheduled_requests)
            if r not in running
        ]
        runtime.accounting.on_given_back(dropped)
        original()

    c.on_close = on_close
    c._shoal_on_close = True


def _task_queue(task: Any) -> str:
    info = getattr(task.request, "delivery_info", None) or {}
    return inflight.queue_of(info.get("routing_key"), _QUEUES[0])


_QUEUES: list[tuple[str, ...]] = [(DEFAULT_QUEUE,)]


def _on_prerun(sender: Any = None, task_id: str = "", task: Any = None, **_: Any) -> None:
    m = metrics.current()
    if m is not None and task is not None:
        published_at = getattr(task.request, "published_at", None)
        m.task_started(task_id, _task_queue(task), task.name, published_at)


def _on_postrun(sender: Any = None, task_id: str = "", task: Any = None, **_: Any) -> None:
    m = metrics.current()
    if m is not None and task is not None:
        m.task_finished(task_id, _task_queue(task), task.name)


def _counting(name: str) -> Any:
    def handler(sender: Any = None, **_: Any) -> None:
        m = metrics.current()
        if m is not None and sender is not None:
            m.count(name, _task_queue(sender), sender.name)

    return handler


def _install_log_filter(secrets: list[str]) -> Any:
    def handler(**_: Any) -> None:
        redact.install_filter(secrets, [logging.getLogger("celery")])

    return handler


def _connect_runtime(app: Celery, runtime: Runtime) -> None:
    """Worker lifecycle signals, for this app's worker only (a process may build two apps)."""

    def ours(sender: Any) -> bool:
        return getattr(sender, "app", None) is app

    def on_init(sender: Any = None, **_: Any) -> None:
        if not ours(sender):
            return
        try:
            runtime.start()
        except (OSError, ValueError) as exc:  # Celery would log it and run on half set up
            text = redact.mask_text(str(exc), redact.settings_secrets(runtime.settings))
            print(f"shoal worker: cannot start: {text}", file=sys.stderr)
            raise SystemExit(2) from None

    def on_shutting_down(**_: Any) -> None:
        if runtime.started:
            runtime.shutting_down()

    def on_shutdown(sender: Any = None, **_: Any) -> None:
        if ours(sender):
            runtime.shutdown()

    def on_received(sender: Any = None, request: Any = None, **_: Any) -> None:
        if runtime.started:
            runtime.accounting.on_received(request)

    signals.worker_init.connect(on_init, weak=False)
    signals.worker_shutting_down.connect(on_shutting_down, weak=False)
    signals.worker_shutdown.connect(on_shutdown, weak=False)
    signals.task_received.connect(on_received, weak=False)


def _connect_task_metrics() -> None:
    """Task signals feed the process-wide metrics; connected once per process."""
    signals.task_prerun.connect(_on_prerun, weak=False, dispatch_uid="shoal.prerun")
    signals.task_postrun.connect(_on_postrun, weak=False, dispatch_uid="shoal.postrun")
    for signal, name in (
        (signals.task_success, "succeeded"),
        (signals.task_failure, "failed"),
        (signals.task_retry, "retried"),
    ):
        signal.connect(_counting(name), weak=False, dispatch_uid=f"shoal.{name}")
    signals.worker_process_shutdown.connect(
        _child_exited, weak=False, dispatch_uid="shoal.child-exit"
    )


def _child_exited(pid: int | None = None, **_: Any) -> None:
    metrics.process_exited(pid or os.getpid())


def install(app: Celery, settings: WorkerSettings, *, extra_secrets: Iterable[str] = ()) -> None:
    """Wire each concern (metrics, health, in-flight accounting, Sentry) into ``app``;
    ``extra_secrets`` (a team app's own URLs' passwords) are masked in logs too."""
    runtime = Runtime(app, settings)
    app.shoal_runtime = runtime  # type: ignore[attr-defined]
    _QUEUES[0] = settings.queues
    app.steps["consumer"].add(consumer_step(runtime))
    _connect_runtime(app, runtime)
    _connect_task_metrics()
    log_filter = _install_log_filter([*redact.settings_secrets(settings), *extra_secrets])
    signals.after_setup_logger.connect(log_filter, weak=False)
    signals.after_setup_task_logger.connect(log_filter, weak=False)
    log_filter()
