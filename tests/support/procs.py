"""Processes started by tests, each in its own session and stopped by its own id."""

from __future__ import annotations

import contextlib
import os
import signal as sig_mod
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.support.tools import ROOT


class Proc:
    """A child process in its own process group, with its output in a log file."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str], log: Path, name: str) -> None:
        self.name = name
        self.log = log
        self._log_handle = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            list(argv),
            env=env,
            cwd=ROOT,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def kill_group(self, sig: int = sig_mod.SIGKILL) -> None:
        """Signal the whole process group (a prefork worker's children too)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def wait(self, timeout_s: float) -> int | None:
        try:
            return self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL to the group after ``grace_s``; always reaps."""
        if self.alive():
            self.signal(sig_mod.SIGTERM)
            if self.wait(grace_s) is None:
                self.kill_group(sig_mod.SIGKILL)
                self.wait(5)
        self.kill_group(sig_mod.SIGKILL)  # stray children of the group
        self._log_handle.close()

    def output(self) -> str:
        if not self._log_handle.closed:
            self._log_handle.flush()
        return self.log.read_text(errors="replace")


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
        return self.start([sys.executable, "-m", "workers.cli", *args], env=env, name=name)

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
) -> object:
    """Poll ``predicate`` until it returns something truthy; fail with ``message`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {message}")
        time.sleep(interval_s)
