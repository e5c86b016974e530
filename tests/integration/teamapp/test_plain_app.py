"""A plain Celery app (no Django) runs unchanged: its own task base class (methods and
``on_failure``), its own default queue and time limits; the platform's retries with backoff and
dead letters work on its tasks."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from celery import Celery

from tests.integration.teamapp.conftest import Team
from tests.support.procs import ProcessTracker, wait_for


@pytest.fixture
def billing(plain_team: Team, redis_client: redis.Redis) -> Iterator[Celery]:
    """The team's web app publishing as its own app does: to its default queue ``billing``."""
    app = plain_team.client()
    app.conf.task_default_queue = "billing"
    try:
        yield app
    finally:
        app.close()


def dead_letters(client: redis.Redis, queue: str) -> list[dict[str, object]]:
    return [json.loads(raw) for raw in client.lrange(f"shoal:dlq:{queue}", 0, -1)]


@pytest.mark.parametrize("pool", ["prefork", "gevent"])
def test_a_plain_app_runs_unchanged_on_its_own_queue(
    pool: str,
    plain_team: Team,
    billing: Celery,
    procs: ProcessTracker,
    redis_client: redis.Redis,
) -> None:
    worker = plain_team.worker(procs, "--app", "billing", "--concurrency", "2", pool=pool)
    assert billing.send_task("billing.tasks.invoice", args=[7]).get(timeout=90) == "INV-7"
    assert billing.send_task("billing.tasks.flaky_charge", args=["k", 2]).get(timeout=60) == (
        "charged"
    )
    assert redis_client.get("billing:attempts:k") == b"3"  # two retries, then it charged
    billing.send_task("billing.tasks.refund_twice", args=[9])
    billing.send_task("billing.tasks.slow_export", args=[30])
    wait_for(
        lambda: redis_client.llen("billing:audit") == 2,
        timeout_s=60,
        message="the team's on_failure for both failures",
    )
    refund, export = sorted(e.decode() for e in redis_client.lrange("billing:audit", 0, -1))
    assert refund == "billing.tasks.refund_twice|RuntimeError"
    # Stopped by the app's 3 s soft limit (gevent's pool raises the hard one), not the
    # platform's 300 s.
    assert export in (
        "billing.tasks.slow_export|SoftTimeLimitExceeded",
        "billing.tasks.slow_export|TimeLimitExceeded",
    )
    wait_for(lambda: len(dead_letters(redis_client, "billing")) == 2, timeout_s=30)
    reasons = {e["task"]: e["reason"] for e in dead_letters(redis_client, "billing")}
    assert reasons == {
        "billing.tasks.refund_twice": "task_failed",
        "billing.tasks.slow_export": "time_limit",
    }
    seen = billing.send_task(
        "probe.conf", args=[["timezone", "task_time_limit", "task_default_queue"]]
    ).get(timeout=60)
    assert seen == {
        "timezone": "America/New_York",
        "task_time_limit": 4,
        "task_default_queue": "billing",
    }
    task = billing.send_task("probe.task", args=["billing.tasks.invoice"]).get(timeout=60)
    assert task["mro"][1:3] == ["workers.base.PlatformTaskMixin", "billing.tasks.invoice"]
    assert "billing.celery.AuditedTask" in task["mro"]
    assert [line for line in worker.output().splitlines() if "WARNING: " in line] == []
    assert redis_client.llen("celery") == 0  # nothing went to Celery's default queue


def test_non_retryable_ends_a_task_of_the_apps_own_class(
    django_team: Team, client: Celery, procs: ProcessTracker, redis_client: redis.Redis
) -> None:
    django_team.worker(procs, "--app", "proj", "--concurrency", "2")
    client.send_task("probe.non_retryable")
    wait_for(lambda: dead_letters(redis_client, "celery"), timeout_s=90, message="a dead letter")
    (entry,) = dead_letters(redis_client, "celery")
    assert (entry["task"], entry["reason"]) == ("probe.non_retryable", "non_retryable")
    assert "the card is blocked" in str(entry["error"])
