"""The publisher kit on a team's own Celery app: priorities, published_at, routing."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery

from contract.priority import priority_lists
from tests.support.procs import ProcessTracker, wait_for
from tests.support.redis_server import RedisServer
from workers.kit import configure


@pytest.fixture
def kit_client(redis_server: RedisServer, redis_client: redis.Redis) -> Iterator[Celery]:
    app = Celery("team", set_as_current=False)
    configure(
        app,
        redis_url=redis_server.url,
        routes={"billing.*": "billing", "tests.add": "math", "emails.*": "emails"},
        route_hook=lambda name, args, kwargs, options: "vip" if kwargs.get("vip") else None,
    )
    try:
        yield app
    finally:
        app.close()


def _messages(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for key in priority_lists(queue) for raw in client.lrange(key, 0, -1)]


def test_priority_nine_runs_before_zero_and_every_message_has_published_at(
    procs: ProcessTracker,
    semantics_env: dict[str, str],
    kit_client: Celery,
    redis_client: redis.Redis,
) -> None:
    before = time.time()
    for i in range(4):
        kit_client.send_task("shoal.record", args=[f"low-{i}"], queue="prio", priority=0)
    for i in range(3):
        kit_client.send_task("shoal.record", args=[f"none-{i}"], queue="prio")
    for i in range(4):
        kit_client.send_task("shoal.record", args=[f"high-{i}"], queue="prio", priority=9)
    messages = _messages(redis_client, "prio")
    assert len(messages) == 11
    for message in messages:
        published_at = message["headers"]["published_at"]
        assert isinstance(published_at, float)
        assert before - 1 <= published_at <= time.time() + 1
        assert message["content-type"] == "application/json"
    assert redis_client.llen("prio\x06\x169") == 4
    assert redis_client.llen("prio") == 7  # priority 0 and no priority: the least urgent

    procs.worker("prio", env=semantics_env)
    wait_for(
        lambda: redis_client.llen("shoal:test:record") == 11, timeout_s=90, message="11 records"
    )
    order = [
        e.decode().split("|")[0].split("-")[0]
        for e in redis_client.lrange("shoal:test:record", 0, -1)
    ]
    assert order[:4] == ["high"] * 4
    assert sorted(order[4:]) == ["low"] * 4 + ["none"] * 3


def test_send_task_by_name_is_routed_by_pattern_and_by_the_hook(
    procs: ProcessTracker,
    semantics_env: dict[str, str],
    kit_client: Celery,
    redis_client: redis.Redis,
) -> None:
    kit_client.send_task("billing.charge", args=[42])
    kit_client.send_task("billing.refund", args=[7])
    kit_client.send_task("emails.send", kwargs={"to": "a@example.com"})
    kit_client.send_task("emails.send", kwargs={"to": "ceo@example.com", "vip": True})
    kit_client.send_task("unrouted.task")
    kit_client.send_task("billing.charge", args=[1], queue="explicit")  # the caller wins
    counts = {q: len(_messages(redis_client, q)) for q in ("billing", "emails", "vip", "explicit")}
    assert counts == {"billing": 2, "emails": 1, "vip": 1, "explicit": 1}
    assert len(_messages(redis_client, "celery")) == 1  # no route: Celery's default queue
    vip = _messages(redis_client, "vip")[0]
    assert vip["headers"]["task"] == "emails.send"
    body = json.loads(base64.b64decode(vip["body"]))
    assert body[1] == {"to": "ceo@example.com", "vip": True}

    # And a routed task runs on the worker of its queue.
    procs.worker("math", env=semantics_env)
    assert kit_client.send_task("tests.add", args=[20, 22]).get(timeout=90) == 42
