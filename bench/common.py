"""Shared benchmark helpers: a private Redis, processes stopped by their own ids, statistics.

Processes are the tests' own (:mod:`tests.support.procs`, :mod:`tests.support.redis_server`):
each runs in its own session (process group) and is stopped by its pid (SIGTERM, then SIGKILL
to its group) when the ``with`` block ends, also on an error or Ctrl-C.
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
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from tests.support.procs import wait_for
from tests.support.redis_server import RedisServer
from tests.support.tools import find_tool

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "bench" / "out"
UNACKED_KEY = "unacked"
"""Kombu's Redis transport keeps delivered but unacknowledged messages in this hash."""


def exit_on_sigterm() -> None:
    """Raise ``SystemExit`` on SIGTERM so every ``finally`` stops its processes."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def redis_binary() -> str:
    found = find_tool("redis-server")
    if not found:
        raise SystemExit("bench: redis-server is not installed (make setup installs it)")
    return found


@contextlib.contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    """A redis-server on a free port without persistence; yields its URL."""
    server = RedisServer(redis_binary(), workdir)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def wait_until(
    predicate: Callable[[], object],
    *,
    timeout_s: float,
    interval_s: float = 0.05,
    message: str = "condition",
) -> object:
    """:func:`tests.support.procs.wait_for`, raising ``TimeoutError`` as a benchmark should."""
    return wait_for(
        predicate, timeout_s=timeout_s, interval_s=interval_s, message=message, error=TimeoutError
    )


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
