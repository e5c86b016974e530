"""``shoal autoscaler --once`` and ``shoal status`` as processes, on a real Redis."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.support.procs import ProcessTracker
from tests.support.redis_server import RedisServer
from tests.support.tools import ROOT

pytestmark = pytest.mark.integration

CONFIG = """
pollIntervalSeconds: 1
redis: {{url: "{url}"}}
queues:
  - name: emails
    pool: gevent
    concurrency: 50
    autoscaling: {{minReplicas: 0, maxReplicas: 20, targetBacklogPerReplica: 100}}
  - name: reports
    concurrency: 2
    autoscaling: {{minReplicas: 0, targetLatencySeconds: 60, {extra}}}
"""


def shoal(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shoal", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def env(worker_env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in worker_env.items() if k != "SHOAL_REDIS_URL"}


def test_once_decides_every_queue_and_status_shows_them(
    tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis, env: dict[str, str]
) -> None:
    config = tmp_path / "autoscaler.yaml"
    config.write_text(CONFIG.format(url=redis_server.url, extra=""))
    redis_client.lpush("emails", *["{}"] * 250)
    run = shoal("autoscaler", "--config", str(config), "--actuator", "dry-run", "--once", env=env)
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stdout.splitlines() if not line.startswith("dry-run:")]
    assert lines == [
        "emails: backlog 250 in flight 0; replicas 0 -> 3 (backlog: waiting 250 + in flight 0 "
        "over 100 per replica -> 3)",
        "reports: backlog 0 in flight 0; replicas 0 -> 0 (idle: waiting 0 <= activationBacklog 0)",
    ]
    table = shoal("status", "--redis-url", redis_server.url, env=env)
    assert table.returncode == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines()]
    assert rows[0][:4] == ["QUEUE", "BACKLOG", "BY", "PRIORITY"]
    # backlog, by priority, in flight, held, dead, delayed, next due, oldest, current, desired
    assert rows[1][:12] == ["emails", "250", "0:250", "0", "0", "0", "0", "-", "0s", "0", "3",
                            "backlog"]  # fmt: skip
    assert rows[2][:12] == ["reports", "0", "-", "0", "0", "0", "0", "-", "-", "0", "0", "idle"]
    as_json = shoal("status", "--json", "--config", str(config), env=env)
    records = json.loads(as_json.stdout)
    assert [(r["queue"], r["desired_replicas"]) for r in records] == [("emails", 3), ("reports", 0)]


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (
            "maxReplicas: -2",
            "queues[1] (reports).autoscaling.maxReplicas: expected an integer from 1 to 1000, "
            "got -2",
        ),
        (
            "maxReplicas: 4, maxReplicas: 6",  # PyYAML alone keeps the last one
            "{config}: line 11: key 'maxReplicas' appears twice in one mapping (first on line 11)",
        ),
    ],
)
def test_a_bad_config_stops_the_controller_with_the_field_named(
    extra: str, line: str, tmp_path: Path, redis_server: RedisServer, env: dict[str, str]
) -> None:
    config = tmp_path / "autoscaler.yaml"
    config.write_text(CONFIG.format(url=redis_server.url, extra=extra))
    run = shoal("autoscaler", "--config", str(config), "--actuator", "dry-run", "--once", env=env)
    assert run.returncode == 2
    assert run.stderr.strip() == "shoal autoscaler: " + line.format(config=config)


def processes_with(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.timeout(180)
def test_the_local_controller_runs_workers_serves_health_and_stops_them(
    tmp_path: Path,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    env: dict[str, str],
    procs: ProcessTracker,
) -> None:
    import urllib.request
    import uuid

    from tests.support.ports import free_port
    from tests.support.procs import wait_for

    queue = f"solo-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "autoscaler.yaml"
    config.write_text(
        f"""
pollIntervalSeconds: 1
redis: {{url: "{redis_server.url}"}}
queues:
  - name: {queue}
    concurrency: 1
    autoscaling: {{minReplicas: 1, maxReplicas: 2, targetBacklogPerReplica: 10}}
"""
    )
    health, metrics = free_port(), free_port()
    controller = procs.shoal(
        "autoscaler",
        "--config",
        str(config),
        "--actuator",
        "local",
        "--health-port",
        str(health),
        "--metrics-port",
        str(metrics),
        env={**env, "SHOAL_DRAIN_TIMEOUT_S": "2"},
        name="controller",
    )

    def current_replicas() -> int | None:
        raw = redis_client.hget("shoal:autoscaler:status", queue)
        return json.loads(raw)["current_replicas"] if raw else None

    wait_for(lambda: current_replicas() == 1, timeout_s=60, message="one local worker running")
    assert len(processes_with(f"--queue {queue} ")) >= 1
    with urllib.request.urlopen(f"http://127.0.0.1:{health}/livez", timeout=5) as reply:
        assert reply.status == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    assert f'shoal_autoscaler_current_replicas{{queue="{queue}"}} 1.0' in text
    controller.signal(signal.SIGTERM)
    assert controller.wait(60) == 0
    wait_for(lambda: not processes_with(f"--queue {queue} "), timeout_s=30, message="workers gone")
