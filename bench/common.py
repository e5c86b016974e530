"""Shared benchmark helpers: a private Redis, processes stopped by their own ids, statistics.

Every process started here runs in its own session (process group) and is stopped by its pid
(SIGTERM, then SIGKILL to its group) when the ``with`` block ends, also on an error or Ctrl-C.
:func:`exit_on_sigterm` turns SIGTERM into ``SystemExit`` so those ``finally`` blocks run when
the benchmark itself is terminated.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "bench" / "out"
UNACKED_KEY = "unacked"
"""Kombu's Redis transport keeps delivered but unacknowledged messages in this hash."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def exit_on_sigterm() -> None:
    """Raise ``SystemExit`` on SIGTERM so every ``finally`` stops its processes."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


class Proc:
    """A child process in its own process group, its output in a log file."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str], log: Path) -> None:
        self.argv = list(argv)
        self.log = log
        self._handle = open(log, "wb")  # noqa: SIM115 - closed in stop()
        try:
            self.popen = subprocess.Popen(
                self.argv,
                env=dict(env),
                cwd=ROOT,
                stdout=self._handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except BaseException:
            self._handle.close()
            raise
        self.pid = self.popen.pid
        self.started_at = time.monotonic()
        self._stopped = False

    def alive(self) -> bool:
        return self.popen.poll() is None

    def _killpg(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def stop(self, grace_s: float = 20.0) -> int | None:
        """SIGTERM to the pid, SIGKILL to its group after ``grace_s``; always reaps."""
        if self._stopped:
            return self.popen.returncode
        self._stopped = True
        try:
            if self.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGTERM)
                try:
                    self.popen.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    self._killpg(signal.SIGKILL)
                    self.popen.wait(timeout=10)
        finally:
            self._killpg(signal.SIGKILL)  # stray children left in the group
            self._handle.close()
        return self.popen.returncode

    def output(self) -> str:
        if not self._handle.closed:
            self._handle.flush()
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


def redis_binary() -> str:
    local = ROOT / ".tools" / "bin" / "redis-server"
    found = str(local) if local.exists() else shutil.which("redis-server")
    if not found:
        raise SystemExit("bench: redis-server is not installed (make setup installs it)")
    return found


@contextlib.contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    """A redis-server on a free port without persistence; yields its URL."""
    port = free_port()
    argv = [
        redis_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--daemonize",
        "no",
    ]
    url = f"redis://127.0.0.1:{port}/0"
    with running(argv, env=os.environ, log=workdir / "redis.log", grace_s=5.0) as proc:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.2)
        try:
            wait_until(lambda: _pings(client), timeout_s=10, message="redis-server to start")
            if not proc.alive():
                raise RuntimeError(f"redis-server exited: {proc.output()[-500:]}")
        finally:
            client.close()
        yield url


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def wait_until(
    predicate: Callable[[], object],
    *,
    timeout_s: float,
    interval_s: float = 0.05,
    message: str = "condition",
) -> object:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench: timed out after {timeout_s}s waiting for {message}")
        time.sleep(interval_s)


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    """A temporary directory for logs; kept (and named) when KEEP_BENCH_LOGS=1."""
    path = Path(tempfile.mkdtemp(prefix=f"shoal-bench-{prefix}-"))
    try:
        yield path
    finally:
        if os.environ.get("KEEP_BENCH_LOGS") == "1":
            print(f"bench: logs kept in {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


def child_env(**extra: str) -> dict[str, str]:
    """This environment without any SHOAL_* variable, the repository on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOAL_", "BENCH_"))}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def machine() -> dict[str, Any]:
    load1, load5, _ = os.getloadavg()
    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_1m_at_start": round(load1, 2),
        "loadavg_5m_at_start": round(load5, 2),
    }


def write_json(name: str, data: Mapping[str, Any]) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with right-aligned columns."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
