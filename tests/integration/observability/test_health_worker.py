"""Health of a real worker: HTTP endpoints and ``shoal worker health`` exit codes."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery

from tests.integration.observability.helpers import Worker, http_get, start_worker
from tests.support.procs import ProcessTracker, wait_for
from tests.support.redis_server import RedisServer
from tests.support.tools import ROOT, require_tool


def health_cmd(worker: Worker, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shoal", "worker", "health", *args],
        env=worker.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.timeout(150)
@pytest.mark.parametrize("pool", ["prefork", "gevent"])
def test_live_worker_is_healthy_and_a_stopped_one_is_not(
    pool: str, procs: ProcessTracker, worker_env: dict[str, str], tmp_path: Path
) -> None:
    worker = start_worker(
        procs, worker_env, tmp_path, queue="hq", pool=pool, concurrency=1, worker_id="h"
    )
    code, body = http_get(worker.health_port, "/livez")
    assert code == 200 and body.startswith("ok: heartbeat"), body
    assert http_get(worker.health_port, "/readyz") == (200, "ok: consuming\n")
    live = health_cmd(worker)
    assert live.returncode == 0 and live.stdout.startswith("live: heartbeat"), live
    assert health_cmd(worker, "--ready").returncode == 0
    over_http = health_cmd(worker, "--ready", "--port", str(worker.health_port))
    assert (over_http.returncode, over_http.stdout) == (0, "ready: ok: consuming\n")
    too_strict = health_cmd(worker, "--max-age-s", "0")
    assert too_strict.returncode == 1 and "old (limit 0s)" in too_strict.stdout

    worker.proc.signal(signal.SIGTERM)
    assert worker.proc.wait(30) == 0
    stopped = health_cmd(worker)
    assert stopped.returncode == 1
    assert stopped.stdout.startswith("not live: no readable heartbeat file"), stopped.stdout
    refused = health_cmd(worker, "--port", str(worker.health_port))
    assert refused.returncode == 1 and "refused" in refused.stdout.lower()


@pytest.mark.timeout(120)
def test_killed_worker_is_not_live(
    procs: ProcessTracker, worker_env: dict[str, str], tmp_path: Path
) -> None:
    worker = start_worker(
        procs, worker_env, tmp_path, queue="hk", pool="prefork", concurrency=1, worker_id="k"
    )
    assert health_cmd(worker).returncode == 0
    worker.proc.kill_group(signal.SIGKILL)
    worker.proc.wait(10)
    assert worker.health_file.exists(), "a killed worker leaves its file behind"
    dead = health_cmd(worker)
    assert dead.returncode == 1 and "is gone" in dead.stdout, dead.stdout


@pytest.mark.timeout(150)
def test_redis_outage_makes_the_worker_unready_but_live(
    procs: ProcessTracker, worker_env: dict[str, str], tmp_path: Path
) -> None:
    server = RedisServer(require_tool("redis-server"), tmp_path / "own-redis")
    server.start()
    try:
        env = {**worker_env, "SHOAL_REDIS_URL": server.url}
        worker = start_worker(
            procs, env, tmp_path, queue="oq", pool="prefork", concurrency=1, worker_id="o"
        )
        server.stop()
        wait_for(
            lambda: (
                http_get(worker.health_port, "/readyz")
                == (503, "not consuming (phase reconnecting)\n")
            ),
            timeout_s=20,
            message="unready while Redis is down",
        )
        code, body = http_get(worker.health_port, "/livez")
        assert code == 200 and body.startswith("ok: reconnecting"), body
        server.start()
        wait_for(
            lambda: http_get(worker.health_port, "/readyz")[0] == 200,
            timeout_s=60,
            message="ready again once Redis is back",
        )
        client = Celery("oq-client", broker=server.url, backend=server.url, set_as_current=False)
        try:
            assert len(client.send_task("shoal.cpu", args=[1], queue="oq").get(timeout=60)) == 64
        finally:
            client.close()
        worker.proc.stop()
        assert "Traceback" not in worker.proc.log.read_text()
    finally:
        server.stop()


@pytest.mark.timeout(150)
def test_a_blocked_main_loop_is_not_live(
    procs: ProcessTracker, worker_env: dict[str, str], tmp_path: Path, stock_client: Celery
) -> None:
    """A CPU-bound task blocks a gevent worker's loop: the heartbeat goes stale, then recovers."""
    worker = start_worker(
        procs, worker_env, tmp_path, queue="busy", pool="gevent", concurrency=2, worker_id="b"
    )
    assert health_cmd(worker, "--max-age-s", "3").returncode == 0
    result = stock_client.send_task("shoal.cpu", args=[30_000_000], queue="busy")

    def stale() -> bool:
        done = health_cmd(worker, "--max-age-s", "3")
        return done.returncode == 1 and "heartbeat is" in done.stdout

    wait_for(stale, timeout_s=60, interval_s=0.5, message="a stale heartbeat")
    assert len(result.get(timeout=120)) == 64
    wait_for(
        lambda: health_cmd(worker, "--max-age-s", "3").returncode == 0,
        timeout_s=20,
        message="live again",
    )
