"""Bad settings stop the worker with one line; an unreachable Redis is waited for, not a crash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery

from tests.support.ports import free_port
from tests.support.procs import ProcessTracker, wait_for
from tests.support.redis_server import RedisServer
from tests.support.tools import ROOT, require_tool


@pytest.mark.parametrize(
    ("args", "extra_env", "line"),
    [
        (
            ["--concurrency", "zero"],
            {},
            "shoal worker: bad setting: SHOAL_CONCURRENCY: expected an integer from 1 to 10000, "
            "got 'zero'",
        ),
        (
            [],
            {"SHOAL_REDIS_URL": "http://127.0.0.1:1/0"},
            "shoal worker: bad setting: SHOAL_REDIS_URL: expected a Redis URL",
        ),
        (
            [],
            {"SHOAL_DRAIN_TIMEOUT_S": "a while"},
            "shoal worker: bad setting: SHOAL_DRAIN_TIMEOUT_S: expected a whole number of seconds",
        ),
    ],
)
def test_bad_setting_exits_2_with_one_line(
    args: list[str],
    extra_env: dict[str, str],
    line: str,
    procs: ProcessTracker,
    worker_env: dict[str, str],
) -> None:
    proc = procs.shoal("worker", "--queue", "q", *args, env={**worker_env, **extra_env}, name="bad")
    assert proc.wait(60) == 2
    lines = [x for x in proc.output().splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith(line), lines


@pytest.mark.timeout(150)
def test_unreachable_redis_is_retried_in_one_line_then_the_worker_consumes(
    procs: ProcessTracker, worker_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    url = f"redis://:late-pass-1@127.0.0.1:{port}/0"
    env = {**worker_env, "SHOAL_REDIS_URL": url, "SHOAL_REDIS_PASSWORD": ""}
    worker = procs.shoal(
        "worker", "--queue", "late", "--pool", "prefork", "--concurrency", "1", env=env, name="late"
    )

    def attempts() -> int:
        assert worker.alive(), worker.output()
        return sum("cannot reach Redis" in x for x in worker.output().splitlines())

    wait_for(lambda: attempts() >= 3, timeout_s=30, message="three retry lines")
    server = RedisServer(require_tool("redis-server"), tmp_path / "late-redis", port=port)
    server.start()
    client = Celery("late-client", broker=url, backend=url, set_as_current=False)
    try:
        server.client().config_set("requirepass", "late-pass-1")
        result = client.send_task("shoal.cpu", args=[1], queue="late")
        assert len(result.get(timeout=90)) == 64
    finally:
        client.close()
        worker.stop()
        server.stop()
    output = worker.log.read_text()
    retry_lines = [x for x in output.splitlines() if "cannot reach Redis" in x]
    assert retry_lines[0] == (
        f"shoal worker: cannot reach Redis at redis://:***@127.0.0.1:{port}/0: Error 111 "
        f"connecting to 127.0.0.1:{port}. Connection refused.; attempt 1, retrying in 0.5s"
    )
    assert "Traceback" not in output
    assert "late-pass-1" not in output
    assert f"Redis at redis://:***@127.0.0.1:{port}/0 answers now" in output


def test_config_command_masks_secrets(worker_env: dict[str, str]) -> None:
    env = {
        **worker_env,
        "SHOAL_REDIS_URL": "redis://app:url-pass-77@redis.example:6379/0",
        "SHOAL_RESULT_BACKEND_URL": "redis://redis.example:6379/1",
        "SHOAL_REDIS_PASSWORD": "env-pass-88",
        "SHOAL_SENTRY_DSN": "https://dsnkey99@o1.ingest.sentry.io/7",
    }
    for args in ([], ["--json"]):
        done = subprocess.run(
            [sys.executable, "-m", "shoal", "config", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        for secret in ("url-pass-77", "env-pass-88", "dsnkey99"):
            assert secret not in done.stdout + done.stderr
        assert "redis://app:***@redis.example:6379/0" in done.stdout
        assert "redis://:***@redis.example:6379/1" in done.stdout, "backend gets the password"
        assert "https://***@o1.ingest.sentry.io/7" in done.stdout


def test_a_port_in_use_stops_the_worker_with_one_line(
    procs: ProcessTracker, worker_env: dict[str, str]
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**worker_env, "SHOAL_METRICS_PORT": str(port)}
        proc = procs.shoal("worker", "--queue", "busy", env=env, name="busy")
        assert proc.wait(60) == 2
    lines = [x for x in proc.log.read_text().splitlines() if x.startswith("shoal worker:")]
    assert lines == [
        f"shoal worker: cannot listen on SHOAL_METRICS_PORT={port}: Address already in use"
    ]
    assert "Traceback" not in proc.log.read_text()


def test_a_bad_sentry_dsn_stops_the_worker_naming_the_setting(
    procs: ProcessTracker, worker_env: dict[str, str]
) -> None:
    env = {**worker_env, "SHOAL_SENTRY_DSN": "ftp://secretkey77@sentry.example/1"}
    proc = procs.shoal("worker", "--queue", "dsn", env=env, name="dsn")
    assert proc.wait(60) == 2
    output = proc.log.read_text()
    lines = [x for x in output.splitlines() if x.startswith("shoal worker:")]
    assert lines == [
        "shoal worker: cannot start: SHOAL_SENTRY_DSN: not a usable Sentry DSN "
        "(Unsupported scheme 'ftp')"
    ]
    assert "secretkey77" not in output and "Traceback" not in output
