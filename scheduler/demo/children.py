"""The demo's child processes: each in its own session, each stopped by its own pid.

Workers are started by the autoscaler's local actuator, not by the demo; the autoscaler stops
them when it exits. As a safety net the demo also finds any process whose environment points at
its private Redis (a URL with a port no one else uses) and stops it by pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    handle: IO[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != b"Z"


class Children:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []
        self.swept: list[int] = []

    def start(self, name: str, argv: Sequence[str], *, env: Mapping[str, str]) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        handle = open(log, "wb")  # noqa: SIM115 - closed in stop()
        try:
            popen = subprocess.Popen(
                list(argv),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError:
            handle.close()
            raise
        child = Child(name, popen, log, handle)
        self.children.append(child)
        return child

    def stop(self, child: Child, *, grace_s: float) -> None:
        """SIGTERM, wait up to ``grace_s``, then SIGKILL to its process group; always reaps."""
        if child.alive():
            child.popen.send_signal(signal.SIGTERM)
            try:
                child.popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                _killpg(child.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.popen.wait(5)
        _killpg(child.pid, signal.SIGKILL)  # stray members of its group (pool children)
        child.handle.close()

    def sweep(self, marker: str, *, grace_s: float = 10.0) -> list[int]:
        """Stop every process of ours whose environment contains ``marker``; returns their pids."""
        mine = {c.pid for c in self.children} | {os.getpid()}
        found = [pid for pid in environ_matches(marker) if pid not in mine]
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while any(pid_alive(p) for p in found) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in found:
            if pid_alive(pid):
                _killpg(pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        self.swept += found
        return found

    def pids(self) -> dict[str, int]:
        return {c.name: c.pid for c in self.children}


def environ_matches(marker: str) -> list[int]:
    """Pids of this user's processes whose environment contains ``marker``."""
    needle = marker.encode()
    uid = os.getuid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            data = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in data and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found
