"""A Django team's psycopg2 under gevent: shoal's gevent worker makes it cooperative with
psycogreen when it is installed (queries on a real PostgreSQL overlap, ORM writes land), and
says so in one line when it is not."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from celery import Celery

from tests.integration.teamapp.conftest import EXAMPLE, Team
from tests.support.postgres_server import PostgresServer
from tests.support.procs import ProcessTracker
from tests.support.tools import ROOT

MISSING = """
import sys
sys.modules["psycogreen"] = None  # as in an image without psycogreen
from workers.green import patch
print(patch())
"""


@pytest.mark.parametrize(
    ("pool", "callback"),
    [("gevent", "psycogreen.gevent.gevent_wait_callback"), ("prefork", None)],
)
def test_psycopg2_waits_cooperatively_under_gevent_only(
    pool: str, callback: str | None, django_team: Team, client: Celery, procs: ProcessTracker
) -> None:
    worker = django_team.worker(procs, "--app", "proj", "--concurrency", "2", pool=pool)
    assert client.send_task("probe.db_wait").get(timeout=90) == callback
    assert "psycogreen is not" not in worker.output()  # no warning: it is installed


def test_without_psycogreen_a_gevent_worker_says_so() -> None:
    result = subprocess.run(
        [sys.executable, "-c", MISSING],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout == (
        "['psycopg2 is installed but psycogreen is not: each database query blocks every task "
        "of this gevent worker (install psycogreen in your image)']\n"
    )


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def most_at_once(spans: list[list[float]]) -> int:
    """The largest number of ``[start, end]`` spans that were open at one instant."""
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_on_postgresql_gevent_queries_overlap_and_orm_writes_land(
    postgres: PostgresServer, django_team: Team, client: Celery, procs: ProcessTracker
) -> None:
    django_team.env["DATABASE_URL"] = postgres.create_database("orders")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=EXAMPLE,
        env=django_team.env,
        check=True,
        timeout=120,
    )
    django_team.worker(procs, "--app", "proj", "--concurrency", "30", pool="gevent")
    assert client.send_task("orders.tasks.touch", args=["up"]).get(timeout=90) == 1
    sleeps = [client.send_task("probe.db_sleep", args=[1.0]) for _ in range(20)]
    spans = [r.get(timeout=120) for r in sleeps]
    # psycopg2 hands its waits to gevent: the 20 queries ran side by side in one process (a
    # blocking driver would run them one after the other: never two at once).
    assert most_at_once(spans) >= 10, spans
    touches = [client.send_task("orders.tasks.touch", args=["busy"]) for _ in range(30)]
    assert max(r.get(timeout=120) for r in touches) == 30
    import psycopg2

    with psycopg2.connect(django_team.env["DATABASE_URL"]) as db, db.cursor() as cursor:
        cursor.execute("select touched from orders_order where reference = 'busy'")
        assert cursor.fetchall() == [(30,)]
