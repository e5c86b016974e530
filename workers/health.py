"""Worker health: a heartbeat the main loop refreshes, readiness once the consumer consumes.

The consumer's event loop (prefork) or its timer greenlet (gevent) stamps
:meth:`HealthState.beat` every tick, so a fresh heartbeat proves the main loop turns. While the
consumer reconnects to the broker, or drains on SIGTERM, the loop may not turn; the phase says
so and counts as live, because a restart does not bring Redis back. Starting may take up to
:data:`STARTUP_GRACE_S`.

Two readers: ``GET /livez`` and ``GET /readyz`` on the health port, and a small JSON file (path
from ``SHOAL_HEALTH_FILE``) that ``shoal worker health`` checks without a network round trip.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from contract.fields import Setting
from contract.kinds import Text

HEALTH_FILE_ENV = "SHOAL_HEALTH_FILE"
DEFAULT_HEALTH_FILE = "/tmp/shoal-health"
HEALTH_FILE = Setting(
    Text(min_length=1),
    DEFAULT_HEALTH_FILE,
    "The heartbeat file the worker writes and `shoal worker health` reads.",
    env=HEALTH_FILE_ENV,
)
STARTUP_GRACE_S = 300.0
"""How long a worker may take from start to consuming (e.g. while Redis is unreachable)."""


class Phase(StrEnum):
    STARTING = "starting"
    CONSUMING = "consuming"
    RECONNECTING = "reconnecting"
    STOPPING = "stopping"


@dataclass(frozen=True)
class Snapshot:
    """What the worker last said about itself; ``beat_at`` is epoch seconds."""

    phase: Phase
    beat_at: float
    max_age_s: float
    pid: int


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str


def health_file_path(env: dict[str, str] | None = None) -> Path:
    source = os.environ if env is None else env
    return Path(source.get(HEALTH_FILE_ENV) or DEFAULT_HEALTH_FILE)


def default_max_age_s(heartbeat_interval_s: float) -> float:
    """How old a heartbeat may be before the worker counts as dead."""
    return max(10.0, 5 * heartbeat_interval_s)


def liveness(snap: Snapshot | None, now: float, max_age_s: float | None = None) -> Verdict:
    """Live when the main loop beat recently; waiting for the broker or draining counts too."""
    if snap is None:
        return Verdict(False, "no heartbeat yet")
    limit = snap.max_age_s if max_age_s is None else max_age_s
    age = now - snap.beat_at
    if snap.phase in (Phase.RECONNECTING, Phase.STOPPING):
        return Verdict(True, f"{snap.phase} for {age:.1f}s")
    if snap.phase is Phase.STARTING:
        limit = max(limit, STARTUP_GRACE_S)
    if age > limit:
        return Verdict(False, f"heartbeat is {age:.1f}s old (limit {limit:g}s), phase {snap.phase}")
    return Verdict(True, f"heartbeat {age:.1f}s old, phase {snap.phase}")


def readiness(snap: Snapshot | None, now: float, max_age_s: float | None = None) -> Verdict:
    """Ready when live and the consumer is consuming."""
    live = liveness(snap, now, max_age_s)
    if not live.ok or snap is None:
        return live
    if snap.phase is not Phase.CONSUMING:
        return Verdict(False, f"not consuming (phase {snap.phase})")
    return Verdict(True, "consuming")


class HealthState:
    """The worker's own view, updated by the main loop, read by the HTTP server and the file."""

    def __init__(self, *, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._phase = Phase.STARTING
        self._beat_at: float | None = None

    def beat(self, now: float) -> None:
        self._beat_at = now

    def set_phase(self, phase: Phase, now: float) -> None:
        with self._lock:
            self._phase = phase
            self._beat_at = now

    @property
    def phase(self) -> Phase:
        return self._phase

    def snapshot(self) -> Snapshot | None:
        with self._lock:
            if self._beat_at is None:
                return None
            return Snapshot(self._phase, self._beat_at, self.max_age_s, os.getpid())


def write_file(path: Path, snap: Snapshot | None) -> None:
    """Atomically replace the health file (write then rename)."""
    if snap is None:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(snap)))
    os.replace(tmp, path)


def read_file(path: Path) -> Snapshot | None:
    try:
        data = json.loads(path.read_text())
        return Snapshot(
            Phase(data["phase"]), float(data["beat_at"]), float(data["max_age_s"]), int(data["pid"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_file(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _handler(state: HealthState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            check = {"/livez": liveness, "/readyz": readiness}.get(self.path.split("?")[0])
            if check is None:
                self._reply(404, "not found: try /livez or /readyz")
                return
            verdict = check(state.snapshot(), time.time())
            self._reply(200 if verdict.ok else 503, ("ok: " if verdict.ok else "") + verdict.reason)

        def _reply(self, code: int, text: str) -> None:
            body = (text + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Probes every few seconds would flood the log; stay quiet."""

    return Handler


def serve(state: HealthState, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Serve ``/livez`` and ``/readyz`` on a daemon thread; returns the server (port 0: any)."""
    server = ThreadingHTTPServer((host, port), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="shoal-health", daemon=True)
    thread.start()
    return server
