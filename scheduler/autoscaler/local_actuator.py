"""The local actuator: ``shoal worker`` processes on this machine, one per replica.

Each process gets a unique ``SHOAL_WORKER_ID`` (its name in the in-flight hash), no fixed
ports, and its own process group. Scale-in sends SIGTERM to the idlest processes (Celery's
soft shutdown drains their tasks) and reaps them; processes that outlive the drain are killed.
Every process stops when the actuator closes.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from scheduler.autoscaler.actuator import ActuatorError, ScaleRequest, idlest_first
from scheduler.autoscaler.rules import QueuePolicy

log = logging.getLogger("shoal.autoscaler.local")


@dataclass
class WorkerProcess:
    worker_id: str
    queue: str
    popen: subprocess.Popen[bytes]
    log_handle: IO[bytes] | None
    stopping_since: float | None = None

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)


@dataclass
class LocalActuator:
    """Runs ``python -m shoal worker`` per replica, with ``env`` as their environment."""

    env: Mapping[str, str]
    log_dir: Path | None = None
    stop_grace_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    procs: list[WorkerProcess] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def current(self, queues: Sequence[QueuePolicy]) -> dict[str, int]:
        self.reap()
        return {q.name: len(self._running(q.name)) for q in queues}

    def scale(self, request: ScaleRequest) -> None:
        self.reap()
        running = self._running(request.queue.name)
        if request.desired > len(running):
            for _ in range(request.desired - len(running)):
                self._start(request.queue)
        elif request.desired < len(running):
            by_id = {p.worker_id: p for p in running}
            order = idlest_first(by_id, request.in_flight_by_worker)
            for worker_id in order[: len(running) - request.desired]:
                self._stop(by_id[worker_id])

    def reap(self) -> None:
        """Forget exited processes; kill those still draining after ``stop_grace_s``."""
        now = self.clock()
        for proc in list(self.procs):
            if not proc.alive():
                proc.kill_group(signal.SIGKILL)  # stray pool children
                if proc.log_handle:
                    proc.log_handle.close()
                self.procs.remove(proc)
            elif proc.stopping_since is not None and now - proc.stopping_since > self.stop_grace_s:
                log.warning("%s did not stop in %.0fs: killing", proc.worker_id, self.stop_grace_s)
                proc.kill_group(signal.SIGKILL)

    def close(self, timeout_s: float = 30.0) -> None:
        for proc in self.procs:
            if proc.stopping_since is None:
                self._stop(proc)
        deadline = time.monotonic() + timeout_s
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            proc.kill_group(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(5)
        self.reap()

    def _running(self, queue: str) -> list[WorkerProcess]:
        return [p for p in self.procs if p.queue == queue and p.stopping_since is None]

    def _start(self, queue: QueuePolicy) -> None:
        worker_id = f"local-{queue.name}-{os.getpid()}-{next(self._ids)}"
        env = dict(self.env)
        env.setdefault("SHOAL_METRICS_PORT", "0")
        env.setdefault("SHOAL_HEALTH_PORT", "0")
        env["SHOAL_WORKER_ID"] = worker_id
        argv = [sys.executable, "-m", "shoal", "worker", "--queue", queue.name]
        argv += ["--pool", str(queue.pool), "--concurrency", str(queue.concurrency)]
        handle: IO[bytes] | None = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            handle = open(self.log_dir / f"{worker_id}.log", "wb")  # noqa: SIM115 - closed in reap
        try:
            popen = subprocess.Popen(
                argv,
                env=env,
                stdout=handle or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            if handle:
                handle.close()
            raise ActuatorError(f"cannot start a worker for {queue.name}: {exc}") from exc
        self.procs.append(WorkerProcess(worker_id, queue.name, popen, handle))
        log.info("started %s (pid %d)", worker_id, popen.pid)

    def _stop(self, proc: WorkerProcess) -> None:
        proc.stopping_since = self.clock()
        with contextlib.suppress(ProcessLookupError):
            proc.popen.send_signal(signal.SIGTERM)
        log.info("stopping %s (pid %d)", proc.worker_id, proc.popen.pid)
