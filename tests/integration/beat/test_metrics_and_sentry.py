"""The beat's /metrics endpoint, and Sentry Crons check-ins sent to a local fake ingest."""

from __future__ import annotations

import gzip
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis
import sentry_sdk

from scheduler.beat.metrics import SentryCrons, monitor_config
from scheduler.beat.spec import parse_schedules
from tests.integration.beat.support import write_schedules
from tests.support.ports import free_port
from tests.support.procs import ProcessTracker, wait_for


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text: str = response.read().decode()
            return text
    except OSError:
        return ""


def sample(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


@pytest.mark.timeout(90)
def test_metrics_count_fired_ticks_lateness_and_leadership(
    procs: ProcessTracker, worker_env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    path = tmp_path / "schedules.yaml"
    write_schedules(path, "schedules: [{name: m, task: shoal.noop, queue: mq, every: 1s}]")
    port = free_port()
    procs.shoal(
        "beat", "--schedules", str(path), "--metrics-port", str(port), env=worker_env, name="beat"
    )
    wait_for(
        lambda: (sample(scrape(port), 'shoal_beat_ticks_fired_total{source="file"}') or 0) >= 3,
        timeout_s=30,
        message="three fired ticks in /metrics",
    )
    text = scrape(port)
    assert sample(text, "shoal_beat_is_leader") == 1.0
    assert sample(text, "shoal_beat_entries") == 1.0
    fired = sample(text, 'shoal_beat_ticks_fired_total{source="file"}')
    assert sample(text, "shoal_beat_tick_lateness_seconds_count") == fired
    assert redis_client.llen("mq") >= 3


class _Ingest(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        type(self).bodies.append(raw)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def ingest() -> Iterator[tuple[int, list[bytes]]]:
    _Ingest.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Ingest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], _Ingest.bodies
    finally:
        sentry_sdk.get_client().close()
        server.shutdown()
        server.server_close()


def test_sentry_crons_check_in_per_fired_tick(ingest: tuple[int, list[bytes]]) -> None:
    port, bodies = ingest
    entry = parse_schedules(
        "schedules: [{name: nightly, task: t, cron: '0 3 * * *', timezone: Europe/Berlin}]"
    ).entries[0]
    crons = SentryCrons(f"http://public@127.0.0.1:{port}/1")
    crons.fired(entry)
    sentry_sdk.flush(timeout=5)
    wait_for(lambda: bodies, timeout_s=5, message="a check-in envelope")
    text = b"".join(bodies).decode(errors="replace")
    assert '"type":"check_in"' in text
    assert '"monitor_slug":"nightly"' in text
    assert '"status":"ok"' in text
    assert monitor_config(entry) == {
        "schedule": {"type": "crontab", "value": "0 3 * * *"},
        "timezone": "Europe/Berlin",
    }


def test_no_dsn_means_no_sentry() -> None:
    crons = SentryCrons(None)
    assert crons.enabled is False
    entry = parse_schedules("schedules: [{name: e, task: t, every: 5m}]").entries[0]
    crons.fired(entry)  # no client, nothing sent, no error
    assert monitor_config(entry) == {"schedule": {"type": "interval", "value": 5, "unit": "minute"}}
