from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery

from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration


@pytest.fixture
def stock_client(redis_server: RedisServer, redis_client: object) -> Iterator[Celery]:
    """A stock Celery 5 client, configured as an application team would without the kit."""
    app = Celery("client", broker=redis_server.url, backend=redis_server.url, set_as_current=False)
    app.conf.task_serializer = "json"
    try:
        yield app
    finally:
        app.close()
