"""The controller's health endpoint: ``/livez`` (the loop turns) and ``/readyz`` (a pass worked)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Liveness:
    """Updated by the loop; read by the HTTP thread."""

    stale_after_s: float
    clock: Callable[[], float] = time.monotonic
    last_tick: float | None = None
    last_ok: float | None = None

    def tick(self, *, ok: bool) -> None:
        now = self.clock()
        self.last_tick = now
        if ok:
            self.last_ok = now

    def live(self) -> bool:
        return self.last_tick is None or self.clock() - self.last_tick < self.stale_after_s

    def ready(self) -> bool:
        return self.last_ok is not None and self.clock() - self.last_ok < self.stale_after_s


def serve(liveness: Liveness, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            checks = {"/livez": liveness.live, "/readyz": liveness.ready}
            check = checks.get(self.path.split("?")[0])
            if check is None:
                self.send_response(404)
                body = b"not found\n"
            else:
                good = check()
                self.send_response(200 if good else 503)
                body = b"ok\n" if good else b"failing\n"
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    threading.Thread(target=server.serve_forever, name="shoal-health", daemon=True).start()
    return server
