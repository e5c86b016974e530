"""The example Django project, unchanged, on ``shoal worker --app proj`` (prefork and gevent):
its tasks run, ORM writes land, ``delay_on_commit`` publishes after the commit, and its time
zone, time limit, routes and result backend are the ones in force."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from celery import Celery, chain, group

from tests.integration.teamapp.conftest import Team
from tests.support.procs import ProcessTracker, wait_for

POOLS = ["prefork", "gevent"]


def _ready(client: Celery, timeout_s: float = 90) -> None:
    """The worker answers (its tasks are registered and it consumes)."""
    result = client.send_task("orders.tasks.touch", args=["warm-up"])
    assert result.get(timeout=timeout_s) >= 1


@pytest.mark.parametrize("pool", POOLS)
def test_the_teams_tasks_run_and_orm_writes_land(
    pool: str, django_team: Team, client: Celery, procs: ProcessTracker
) -> None:
    concurrency = "30" if pool == "gevent" else "2"
    django_team.worker(procs, "--app", "proj", "--concurrency", concurrency, pool=pool)
    _ready(client)
    results = [client.send_task("orders.tasks.touch", args=["busy"]) for _ in range(30)]
    counts = [r.get(timeout=120) for r in results]
    assert max(counts) == 30  # (a task reads the counter after its update: others may follow)
    assert django_team.rows("select touched from orders_order where reference='busy'") == [(30,)]


@pytest.mark.parametrize("pool", POOLS)
def test_delay_on_commit_publishes_after_the_commit_and_never_for_a_rollback(
    pool: str, django_team: Team, client: Celery, procs: ProcessTracker, redis_client: redis.Redis
) -> None:
    django_team.worker(procs, "--app", "proj", "--concurrency", "2", pool=pool)
    _ready(client)
    failed = client.send_task("orders.tasks.place_order", args=["broken", 0])
    with pytest.raises(ValueError, match="quantity must be at least 1"):
        failed.get(timeout=60)
    order_id = client.send_task("orders.tasks.place_order", args=["ok", 2]).get(timeout=60)
    wait_for(
        lambda: django_team.rows(f"select emailed from orders_order where id={order_id}") == [(1,)],
        timeout_s=60,
        message="the confirmation of the committed order",
    )
    backend = redis.Redis.from_url(django_team.backend_url)

    def confirmations() -> list[tuple[object, object]]:
        metas = [json.loads(backend.get(key) or b"{}") for key in backend.keys("celery-task-*")]
        return [
            (m["args"], m["result"])
            for m in metas
            if m.get("name") == "orders.tasks.send_confirmation" and m.get("status") == "SUCCESS"
        ]

    wait_for(confirmations, timeout_s=30, message="the confirmation's result")
    # One confirmation, for the committed order; it found the order (ran after the commit).
    assert confirmations() == [([order_id], 1)]
    assert django_team.rows("select reference from orders_order where reference='broken'") == []


@pytest.mark.parametrize("pool", POOLS)
def test_the_apps_time_zone_limits_routes_and_result_backend_are_in_force(
    pool: str, django_team: Team, client: Celery, procs: ProcessTracker, redis_client: redis.Redis
) -> None:
    worker = django_team.worker(procs, "--app", "proj", "--concurrency", "2", pool=pool)
    _ready(client)
    day = client.send_task("orders.tasks.close_day").get(timeout=60)
    assert day["timezone"] == "Europe/Berlin"
    # send_daily_email, published from inside a task, went where CELERY_TASK_ROUTES says.
    wait_for(lambda: redis_client.llen("emails") == 1, timeout_s=30, message="a task on emails")
    (raw,) = redis_client.lrange("emails", 0, -1)
    assert json.loads(raw)["headers"]["task"] == "orders.tasks.send_daily_email"
    keys = ["timezone", "task_time_limit", "task_soft_time_limit", "result_expires"]
    keys += ["task_acks_late", "worker_prefetch_multiplier", "accept_content"]
    seen = client.send_task("probe.conf", args=[keys]).get(timeout=60)
    prefetch = 4 if pool == "gevent" else 1
    assert seen == {
        "timezone": "Europe/Berlin",
        "task_time_limit": 1800,
        "task_soft_time_limit": None,
        "result_expires": 21600,
        "task_acks_late": True,
        "worker_prefetch_multiplier": prefetch,
        "accept_content": ["json"],
    }
    touch = client.send_task("probe.task", args=["orders.tasks.touch"]).get(timeout=60)
    assert touch["app"] == "proj" and touch["time_limit"] == 1800 and touch["acks_late"] is True
    assert touch["mro"][1:3] == [
        "workers.base.PlatformTaskMixin",
        "orders.tasks.touch",
    ]
    assert "celery.contrib.django.task.DjangoTask" in touch["mro"]
    # Results are in the team's backend (database 1), not the broker's database.
    assert redis_client.keys("celery-task-meta-*") == []
    assert redis.Redis.from_url(django_team.backend_url).keys("celery-task-meta-*")
    expected = [
        "broker_transport_options.visibility_timeout: the app sets 7200; the platform runs 3600",
        "broker_url: the app sets 'redis://localhost:6379/0'; SHOAL_REDIS_URL sets",
        "worker_concurrency: the app sets 4; SHOAL_CONCURRENCY sets 2",
    ]
    if pool == "prefork":  # gevent's own prefetch is the app's 4
        expected.append("worker_prefetch_multiplier: the app sets 4; the platform runs 1")
    log = worker.output()
    warnings = [line for line in log.splitlines() if line.startswith("shoal worker: WARNING:")]
    assert len(warnings) == len(expected), warnings
    for line, setting in zip(warnings, expected, strict=True):
        assert line.startswith(f"shoal worker: WARNING: {setting}"), line


@pytest.mark.parametrize("pool", POOLS)
def test_chains_and_groups(
    pool: str, django_team: Team, client: Celery, procs: ProcessTracker
) -> None:
    django_team.worker(procs, "--app", "proj", "--concurrency", "3", pool=pool)
    _ready(client)
    touch = "orders.tasks.touch"
    flow = chain(*(client.signature(touch, args=["chained"], immutable=True) for _ in range(3)))
    assert flow.apply_async().get(timeout=60) == 3
    fan: Any = group(client.signature(touch, args=[f"g{i}"]) for i in range(5))
    assert fan.apply_async().get(timeout=60) == [1, 1, 1, 1, 1]


def test_celerys_django_fixup_handles_the_database_connections(
    django_team: Team, client: Celery, procs: ProcessTracker
) -> None:
    """As under ``celery worker``: each task starts without the connection the one before it
    opened in the same prefork child (none is kept, none is shared across a fork)."""
    django_team.worker(procs, "--app", "proj", "--concurrency", "1")
    for reference in ("a", "b", "c"):
        assert client.send_task("orders.tasks.touch", args=[reference]).get(timeout=90) == 1
        fresh = client.send_task("probe.db_fresh").get(timeout=60)
        assert fresh == {"closed_at_start": True, "fixups": ["DjangoFixup"]}
