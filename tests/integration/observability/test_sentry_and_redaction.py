"""Sentry reports a failed task from a real worker; no worker output shows a secret."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from celery import Celery

from tests.integration.observability.helpers import start_worker
from tests.support.ports import free_port
from tests.support.procs import ProcessTracker, wait_for
from tests.support.redis_server import RedisServer
from tests.support.tools import ROOT, require_tool


class Capture:
    """A stand-in Sentry ingest endpoint that keeps every request body."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                capture.bodies.append(raw.decode(errors="replace"))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sentry_capture() -> Iterator[Capture]:
    capture = Capture()
    try:
        yield capture
    finally:
        capture.close()


@pytest.mark.timeout(150)
@pytest.mark.parametrize("pool", ["prefork", "gevent"])
def test_failed_task_reaches_sentry(
    pool: str,
    procs: ProcessTracker,
    worker_env: dict[str, str],
    stock_client: Celery,
    sentry_capture: Capture,
    tmp_path: Path,
) -> None:
    dsn = f"http://publickey0042@127.0.0.1:{sentry_capture.port}/1"
    worker = start_worker(
        procs,
        worker_env,
        tmp_path,
        queue="sq",
        pool=pool,
        concurrency=1,
        worker_id="s",
        extra_env={"SHOAL_SENTRY_DSN": dsn},
    )
    stock_client.send_task("shoal.fail", args=["sentry-marker-31337"], queue="sq").get(
        timeout=60, propagate=False
    )
    wait_for(
        lambda: any("sentry-marker-31337" in b for b in sentry_capture.bodies),
        timeout_s=30,
        message="the failure's envelope at the Sentry endpoint",
    )
    event = next(b for b in sentry_capture.bodies if "sentry-marker-31337" in b)
    assert '"celery"' in event, "reported by the Celery integration"
    assert "publickey0042" not in worker.proc.output()


def test_without_dsn_sentry_is_not_even_imported() -> None:
    code = (
        "import sys\n"
        "from workers.settings import from_env\n"
        "from workers.app import create_app\n"
        "from workers import sentry_setup\n"
        "settings = from_env({})\n"
        "create_app(settings)\n"
        "print(sentry_setup.init(settings), 'sentry_sdk' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "False False", done.stderr


@pytest.fixture
def password_redis(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A second redis-server that requires a password, stopped by its pid."""
    password = "redis-secret-5150"
    server = RedisServer(require_tool("redis-server"), tmp_path / "pw-redis", password=password)
    server.start()
    try:
        yield server.port, password
    finally:
        server.stop()


@pytest.mark.timeout(150)
def test_worker_output_never_shows_the_password(
    procs: ProcessTracker,
    worker_env: dict[str, str],
    password_redis: tuple[int, str],
    tmp_path: Path,
) -> None:
    port, password = password_redis
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    dsn_key = "dsnkey0099"
    env = {
        **worker_env,
        "SHOAL_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "SHOAL_REDIS_PASSWORD": password,
        "SHOAL_LOG_LEVEL": "DEBUG",
        # Nobody listens there: Sentry's own errors must not print the key either.
        "SHOAL_SENTRY_DSN": f"http://{dsn_key}@127.0.0.1:{free_port()}/1",
    }
    worker = start_worker(
        procs, env, tmp_path, queue="pw", pool="prefork", concurrency=1, worker_id="p"
    )
    client = Celery("pw-client", broker=url, backend=url, set_as_current=False)
    try:
        client.send_task("shoal.fail", args=[f"failing with {url}"], queue="pw").get(
            timeout=60, propagate=False
        )
        assert len(client.send_task("shoal.cpu", args=[1], queue="pw").get(timeout=60)) == 64
    finally:
        client.close()
    worker.proc.stop()
    output = worker.proc.log.read_text()
    assert "results:" in output and "transport:" in output, "the banner was printed"
    assert password not in output
    assert dsn_key not in output
    assert "failing with redis://:***@127.0.0.1" in output, "the failure was logged, masked"
