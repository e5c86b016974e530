"""Shared fixtures: a real redis-server for the session, and process tracking per test."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery.signals import before_task_publish

from tests.support.procs import ProcessTracker
from tests.support.redis_server import RedisServer
from tests.support.tools import ROOT, require_tool
from workers.kit import PUBLISH_HOOK_UID


@pytest.fixture(autouse=True)
def _publisher_kit_hook_removed() -> Iterator[None]:
    """``workers.kit.configure`` stamps ``published_at`` on every publish of the process from
    then on (as documented): a test that configures it must not stamp later tests' messages
    (a test's own ``published_at`` header would be overwritten)."""
    yield
    before_task_publish.disconnect(dispatch_uid=PUBLISH_HOOK_UID)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(require_tool("redis-server"), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client on a database emptied before each test."""
    client = redis_server.client()
    client.flushall()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def procs(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ProcessTracker]:
    tracker = ProcessTracker(tmp_path)
    try:
        yield tracker
    finally:
        tracker.stop_all()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            sys.stderr.write(tracker.logs())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


@pytest.fixture
def worker_env(redis_server: RedisServer, tmp_path: Path) -> dict[str, str]:
    """The environment a test worker runs with: this session's Redis, no fixed ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    env.update(
        SHOAL_REDIS_URL=redis_server.url,
        SHOAL_METRICS_PORT="0",
        SHOAL_HEALTH_PORT="0",
        SHOAL_LOG_LEVEL="INFO",
        PYTHONPATH=str(ROOT),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prom"),
    )
    return env
