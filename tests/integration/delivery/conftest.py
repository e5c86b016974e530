"""Fixtures of the delivery tests: a Redis with an append-only file that a test may kill and
start again, the worker environment with the recording tasks, a stock client on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery

from tests.integration.delivery.tasks import RECORD_ENV
from tests.support.redis_server import RedisServer
from tests.support.tools import require_tool

TASKS = "tests.integration.delivery.tasks"
AOF_ARGS = ("--appendonly", "yes", "--appendfsync", "always")


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server that fsyncs every write to its append-only file, so a kill and a
    start again on the same port and directory lose nothing Redis acknowledged."""
    server = RedisServer(require_tool("redis-server"), tmp_path / "aof", extra_args=AOF_ARGS)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def record_file(tmp_path: Path) -> Path:
    return tmp_path / "record.txt"


def delivery_env(base: dict[str, str], url: str, record_file: Path) -> dict[str, str]:
    return {
        **base,
        "SHOAL_REDIS_URL": url,
        "SHOAL_IMPORTS": TASKS,
        RECORD_ENV: str(record_file),
    }


@pytest.fixture
def aof_env(
    worker_env: dict[str, str], aof_redis: RedisServer, record_file: Path
) -> dict[str, str]:
    return delivery_env(worker_env, aof_redis.url, record_file)


@pytest.fixture
def aof_client(aof_redis: RedisServer) -> Iterator[redis.Redis]:
    client = aof_redis.client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def aof_celery(aof_redis: RedisServer) -> Iterator[Celery]:
    """A stock Celery 5 client on the AOF Redis, with its result backend there too."""
    app = Celery("client", broker=aof_redis.url, backend=aof_redis.url, set_as_current=False)
    app.conf.task_serializer = "json"
    try:
        yield app
    finally:
        app.close()
