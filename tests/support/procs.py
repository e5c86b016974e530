"""Processes started by tests and benchmarks, each in its own session, stopped by its own id.

Used by the test fixtures (``procs``) and by ``bench/`` alike: one :class:`Proc` that logs to a
file and is stopped by its pid (SIGTERM, then SIGKILL to its process group), :func:`running`
for a ``with`` block, and the argv of ``shoal`` and of a ``shoal worker``.
"""

from __future__ import annotations

import contextlib
import os
import signal as sig_mod
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from tests.support.tools import ROOT


def shoal_argv(*args: str) -> list[str]:
    """``shoal ARGS`` as this interpreter runs it (``python -m shoal``)."""
    return [sys.executable, "-m", "shoal", *args]


def worker_argv(queue: str, pool: str, concurrency: int, *extra: str) -> list[str]:
    """``shoal worker`` on one queue with one pool and its concurrency."""
    args = ["--queue", queue, "--pool", pool, "--concurrency", str(concurrency), *extra]
    return shoal_argv("worker", *args)


class Proc:
    """A child process in its own process group, with its output in a log file."""

    def __init__(
        self, argv: Sequence[str], *, env: Mapping[str, str], log: Path, name: str = ""
    ) -> None:
        self.argv = list(argv)
        self.name = name or Path(self.argv[0]).name
        self.log = log
        self._log_handle = open(log, "wb")  # noqa: SIM115 - closed in stop()
        try:
            self.popen = subprocess.Popen(
                self.argv,
                env=dict(env),
                cwd=ROOT,
                stdout=self._log_handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except BaseException:
            self._log_handle.close()
            raise
        self.pid = self.popen.pid
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def kill_group(self, sig: int = sig_mod.SIGKILL) -> None:
        """Signal the whole process group (a prefork worker's children too)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def wait(self, timeout_s: float) -> int | None:
        try:
            return self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL to the group after ``grace_s``; always reaps.

        Returns the exit code (``None`` if even SIGKILL left it running). Stopping twice is fine.
        """
        try:
            if self.alive():
                with contextlib.suppress(ProcessLookupError):
                    self.signal(sig_mod.SIGTERM)
                if self.wait(grace_s) is None:
                    self.kill_group(sig_mod.SIGKILL)
                    self.wait(10)
        finally:
            self.kill_group(sig_mod.SIGKILL)  # stray children of the group
            self._log_handle.close()
        return self.popen.returncode

    def output(self) -> str:
        if not self._log_handle.closed:
            self._log_handle.flush()
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def running(
    argv: Sequence[str], *, env: Mapping[str, str], log: Path, grace_s: float = 20.0
) -> Iterator[Proc]:
    """Start ``argv``; stop it (and its group) when the block ends, however it ends."""
    proc = Proc(argv, env=env, log=log)
    try:
        yield proc
    finally:
        proc.stop(grace_s)


class ProcessTracker:
    """Starts processes for one test and stops every one of them at teardown."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[Proc] = []

    def start(self, argv: Sequence[str], *, env: dict[str, str], name: str) -> Proc:
        log = self.log_dir / f"{name}-{len(self.procs)}.log"
        proc = Proc(argv, env=env, log=log, name=name)
        self.procs.append(proc)
        return proc

    def shoal(self, *args: str, env: dict[str, str], name: str = "shoal") -> Proc:
        return self.start(shoal_argv(*args), env=env, name=name)

    def worker(
        self,
        queue: str,
        *,
        env: dict[str, str],
        pool: str = "prefork",
        concurrency: int = 1,
        name: str = "worker",
    ) -> Proc:
        """``shoal worker --queue QUEUE --pool POOL --concurrency N``, stopped at teardown."""
        return self.start(worker_argv(queue, pool, concurrency), env=env, name=name)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            proc.stop(grace_s=5.0)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} (pid {p.pid})\n{p.output()[-4000:]}" for p in self.procs)


def wait_for(
    predicate: Callable[[], object],
    *,
    timeout_s: float,
    interval_s: float = 0.1,
    message: str = "condition",
    error: type[Exception] = AssertionError,
) -> object:
    """Poll ``predicate`` until it returns something truthy; raise ``error`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise error(f"timed out after {timeout_s}s waiting for {message}")
        time.sleep(interval_s)
