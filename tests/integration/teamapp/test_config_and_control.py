"""``shoal config --app`` shows what the worker runs and where each setting comes from, secrets
masked; the team's own ``celery -A proj`` tools work against the shoal worker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from celery import Celery

from tests.integration.teamapp.conftest import EXAMPLE, Team
from tests.support.procs import ProcessTracker, shoal_argv, wait_for
from tests.support.tools import ROOT


def test_shoal_config_app_shows_each_source_and_each_override_masked(django_team: Team) -> None:
    env = {
        **django_team.env,
        "CELERY_RESULT_BACKEND": "redis://:backendpw5@cache.team:6379/1",
        "SHOAL_REDIS_URL": "redis://:brokerpw7@redis.shoal:6379/0",
        "SHOAL_CONCURRENCY": "2",
    }
    result = subprocess.run(
        shoal_argv("config", "--app", "proj", "--json"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "backendpw5" not in result.stdout and "brokerpw7" not in result.stdout
    report = json.loads(result.stdout)
    celery, sources = report["celery"], report["sources"]
    assert celery["timezone"] == "Europe/Berlin" and sources["timezone"] == "team"
    assert celery["task_time_limit"] == 1800 and sources["task_time_limit"] == "team"
    assert celery["result_backend"] == "redis://:***@cache.team:6379/1"
    assert sources["result_backend"] == "team"
    assert celery["broker_url"] == "redis://:***@redis.shoal:6379/0"
    assert sources["broker_url"] == "environment"
    assert celery["task_acks_late"] is True and sources["task_acks_late"] == "platform"
    assert celery["imports"] == ["workers.tasks", "tests.integration.teamapp.probe"]
    assert sorted(report["overridden"]) == [
        "broker_transport_options.visibility_timeout",
        "broker_url",
        "worker_concurrency",
        "worker_prefetch_multiplier",
    ]
    assert report["overridden"]["worker_prefetch_multiplier"] == {
        "app": 4,
        "in_force": 1,
        "by": "platform",
        "why": "a busy process holds no task another replica could run "
        "(prefork 1, gevent 4 per slot; SHOAL_PREFETCH_MULTIPLIER)",
    }
    assert report["overridden"]["worker_concurrency"]["by"] == "environment"
    assert len(report["lines"]) == 4


def _celery(team: Team, *args: str) -> str:
    """The team's own ``celery -A proj`` command, run from its project directory."""
    env = {**team.env, "CELERY_BROKER_URL": team.env["SHOAL_REDIS_URL"]}
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "proj", *args],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("pool", ["prefork", "gevent"])
def test_celery_inspect_and_control_work_against_the_shoal_worker(
    pool: str, django_team: Team, client: Celery, procs: ProcessTracker
) -> None:
    django_team.worker(procs, "--app", "proj", "--concurrency", "2", pool=pool)
    assert client.send_task("orders.tasks.touch", args=["up"]).get(timeout=90) == 1
    queues = json.loads(_celery(django_team, "inspect", "active_queues", "--json"))
    ((node, active),) = queues.items()
    assert node.endswith(f".{pool}@{node.split('@')[1]}")
    assert [q["name"] for q in active] == ["celery"]
    reply = json.loads(_celery(django_team, "control", "pool_grow", "1", "--json"))
    assert reply == [{node: {"ok": "pool will grow"}}]

    def processes() -> object:
        stats = json.loads(_celery(django_team, "inspect", "stats", "--json"))
        pool_stats = next(iter(stats.values()))["pool"]
        return pool_stats.get("processes") or pool_stats.get("max-concurrency")

    if pool == "prefork":
        wait_for(lambda: len(processes()) == 3, timeout_s=30, message="a third process")  # type: ignore[arg-type]
    else:
        wait_for(lambda: processes() == 3, timeout_s=30, message="concurrency 3")
    assert client.send_task("orders.tasks.touch", args=["up"]).get(timeout=60) == 2
