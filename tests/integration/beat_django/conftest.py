"""A real PostgreSQL for the session, the example project migrated into it once; each test
starts from empty django-celery-beat tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.django_project import DB_TABLES, migrate, project_env
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_migrated(postgres: PostgresServer, redis_server: RedisServer) -> str:
    import os

    migrate(project_env(dict(os.environ), redis_server.url, database_url=postgres.url()))
    return postgres.url()


@pytest.fixture
def pg_env(
    pg_migrated: str, redis_server: RedisServer, redis_client: redis.Redis,
    worker_env: dict[str, str],
) -> dict[str, str]:  # fmt: skip
    """The example project on the session's PostgreSQL, its beat tables emptied."""
    import psycopg2

    conn = psycopg2.connect(pg_migrated)
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(DB_TABLES)} RESTART IDENTITY CASCADE")
    finally:
        conn.close()
    return project_env(worker_env, redis_server.url, database_url=pg_migrated)


@pytest.fixture
def sqlite_env(
    tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis,
    worker_env: dict[str, str],
) -> dict[str, str]:  # fmt: skip
    """The example project on a fresh sqlite database, as its README runs it."""
    env = project_env(worker_env, redis_server.url, sqlite=tmp_path / "db.sqlite3")
    migrate(env)
    return env
