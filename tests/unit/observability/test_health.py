"""Liveness and readiness verdicts, the heartbeat file, and the HTTP endpoints."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from workers import health
from workers.health import Phase, Snapshot, liveness, readiness
from workers.health_cmd import check_file


def snap(phase: Phase, beat_at: float, max_age_s: float = 10.0) -> Snapshot:
    return Snapshot(phase, beat_at, max_age_s, os.getpid())


@pytest.mark.parametrize(
    ("snapshot", "now", "live", "ready", "reason"),
    [
        (None, 100.0, False, False, "no heartbeat yet"),
        (snap(Phase.CONSUMING, 95.0), 100.0, True, True, "heartbeat 5.0s old"),
        (snap(Phase.CONSUMING, 89.0), 100.0, False, False, "heartbeat is 11.0s old (limit 10s)"),
        (snap(Phase.STARTING, 50.0), 100.0, True, False, "heartbeat 50.0s old, phase starting"),
        (snap(Phase.STARTING, 0.0), 400.0, False, False, "heartbeat is 400.0s old (limit 300s)"),
        (snap(Phase.RECONNECTING, 0.0), 100.0, True, False, "reconnecting for 100.0s"),
        (snap(Phase.STOPPING, 0.0), 100.0, True, False, "stopping for 100.0s"),
    ],
)
def test_verdicts(
    snapshot: Snapshot | None, now: float, live: bool, ready: bool, reason: str
) -> None:
    assert liveness(snapshot, now).ok is live
    assert readiness(snapshot, now).ok is ready
    assert reason in liveness(snapshot, now).reason


def test_max_age_override_wins() -> None:
    assert liveness(snap(Phase.CONSUMING, 95.0), 100.0, max_age_s=2).ok is False
    assert readiness(snap(Phase.CONSUMING, 95.0), 100.0, max_age_s=60).ok is True


def test_default_max_age_has_a_floor() -> None:
    assert health.default_max_age_s(0.5) == 10.0
    assert health.default_max_age_s(4.0) == 20.0


def test_file_round_trip_and_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "h"
    health.write_file(path, snap(Phase.CONSUMING, 12.5))
    assert health.read_file(path) == snap(Phase.CONSUMING, 12.5)
    path.write_text("{not json")
    assert health.read_file(path) is None
    health.remove_file(path)
    health.remove_file(path)  # twice is fine
    assert health.read_file(path) is None


def test_check_file_fails_when_the_writer_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "h"
    health.write_file(path, Snapshot(Phase.CONSUMING, 100.0, 10.0, 2**22 + 12345))
    verdict = check_file(path, ready=False, max_age_s=None, now=101.0)
    assert verdict.ok is False and "is gone" in verdict.reason


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_http_endpoints_follow_the_state() -> None:
    import time

    state = health.HealthState(max_age_s=10.0)
    server = health.serve(state, 0, host="127.0.0.1")
    port = server.server_address[1]
    try:
        assert _get(port, "/livez")[0] == 503
        state.set_phase(Phase.STARTING, time.time())
        assert _get(port, "/livez")[0] == 200
        assert _get(port, "/readyz") == (503, "not consuming (phase starting)\n")
        state.set_phase(Phase.CONSUMING, time.time())
        assert _get(port, "/readyz")[0] == 200
        state.beat(time.time() - 60)
        code, body = _get(port, "/livez")
        assert code == 503 and "heartbeat is 60" in body
        assert _get(port, "/metrics")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
