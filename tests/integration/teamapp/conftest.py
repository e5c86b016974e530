"""The reference application teams on real ``shoal worker --app`` processes: the example Django
project (examples/django_project, sqlite) and a plain Celery app with its own task base class
and default queue (apps/billing)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from celery import Celery

from tests.support.procs import Proc, ProcessTracker, shoal_argv
from tests.support.redis_server import RedisServer
from tests.support.tools import ROOT

EXAMPLE = ROOT / "examples" / "django_project"
APPS = Path(__file__).resolve().parent / "apps"
PROBE = "tests.integration.teamapp.probe"


@dataclass
class Team:
    """One team's project as its workers, its web app and its tools see it."""

    env: dict[str, str]
    backend_url: str
    database: Path | None = None

    def client(self) -> Celery:
        """A stock client on the team's broker and result backend (its web app, say)."""
        app = Celery("team-client", set_as_current=False)
        app.conf.update(
            broker_url=self.env["SHOAL_REDIS_URL"],
            result_backend=self.backend_url,
            task_serializer="json",
        )
        return app

    def worker(
        self, procs: ProcessTracker, *args: str, pool: str = "prefork", name: str = "worker"
    ) -> Proc:
        return procs.start(
            shoal_argv("worker", "--pool", pool, *args), env=self.env, name=f"{name}-{pool}"
        )

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        import sqlite3

        assert self.database is not None
        with sqlite3.connect(self.database) as db:
            return db.execute(sql).fetchall()


def _db_url(server: RedisServer, db: int) -> str:
    return server.url.rsplit("/", 1)[0] + f"/{db}"


@pytest.fixture
def django_team(worker_env: dict[str, str], redis_server: RedisServer, tmp_path: Path) -> Team:
    """The example project: its own settings, as in production the chart runs it (SHOAL_*
    from the platform; CELERY_RESULT_BACKEND on database 1, as its settings read it)."""
    database = tmp_path / "orders.sqlite3"
    backend = _db_url(redis_server, 1)
    env = {
        **worker_env,
        "PYTHONPATH": f"{ROOT}:{EXAMPLE}",
        "EXAMPLE_SQLITE_PATH": str(database),
        "CELERY_RESULT_BACKEND": backend,
        "SHOAL_IMPORTS": PROBE,
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=EXAMPLE,
        env=env,
        check=True,
        timeout=120,
    )
    return Team(env=env, backend_url=backend, database=database)


@pytest.fixture
def plain_team(worker_env: dict[str, str], redis_server: RedisServer) -> Team:
    env = {
        **worker_env,
        "PYTHONPATH": f"{ROOT}:{APPS}",
        "BILLING_BROKER_URL": redis_server.url,
        "SHOAL_IMPORTS": PROBE,
    }
    return Team(env=env, backend_url=redis_server.url)


@pytest.fixture
def client(django_team: Team, redis_client: redis.Redis) -> Iterator[Celery]:
    app = django_team.client()
    try:
        yield app
    finally:
        app.close()
