"""The dead-letter store against a real Redis: cap, lookup, requeue onto the right list."""

from __future__ import annotations

import base64
import json

import redis

from workers.deadletter import DeadLetterReason, DeadLetterStore, OriginalMessage, make_entry


def _entry(n: int, *, priority: int = 0) -> dict[str, object]:
    message = OriginalMessage(
        body=json.dumps([[n], {}, {}]).encode(),
        headers={"task": "tests.add", "id": f"task-{n}"},
        properties={"priority": priority, "delivery_info": {"exchange": "", "routing_key": "q"}},
        content_type="application/json",
        content_encoding="utf-8",
    )
    return make_entry(
        reason=DeadLetterReason.TASK_FAILED,
        error="boom",
        message=message,
        queue="q",
        now=float(n),
        entry_id=f"entry{n:04d}",
    )


def test_the_list_is_capped_newest_first_and_drops_are_counted(redis_client: redis.Redis) -> None:
    store = DeadLetterStore(redis_client, max_len=3)
    for n in range(5):
        store.add(_entry(n))
    assert [e["id"] for e in store.entries("q")] == ["entry0004", "entry0003", "entry0002"]
    assert redis_client.hget("shoal:stats:q", "dead_letters_dropped") == b"2"
    assert store.queues() == ["q"]


def test_find_by_index_or_unique_id_prefix(redis_client: redis.Redis) -> None:
    store = DeadLetterStore(redis_client)
    for n in (1, 2, 13):
        store.add(_entry(n))
    found = store.find("q", "0")
    assert found is not None and found[1]["id"] == "entry0013"
    found = store.find("q", "entry0002")
    assert found is not None and found[1]["task_id"] == "task-2"
    assert store.find("q", "entry000") is None  # ambiguous
    assert store.find("q", "7") is None


def test_requeue_puts_the_envelope_on_the_list_of_its_priority(redis_client: redis.Redis) -> None:
    store = DeadLetterStore(redis_client)
    store.add(_entry(1, priority=9))
    store.add(_entry(2, priority=0))
    assert store.requeue("q", "entry0001") == 1
    assert store.requeue("q", "entry0001") == 0  # gone already: never twice
    (raw,) = redis_client.lrange("q\x06\x169", 0, -1)
    message = json.loads(raw)
    assert json.loads(base64.b64decode(message["body"]))[0] == [1]
    assert message["headers"]["id"] == "task-1"
    assert store.requeue("q") == 1
    assert redis_client.llen("q") == 1
    assert store.count("q") == 0
    assert store.queues() == []


def test_purge_empties_the_list_and_the_index(redis_client: redis.Redis) -> None:
    store = DeadLetterStore(redis_client)
    store.add(_entry(1))
    store.add(_entry(2))
    assert store.purge("q") == 2
    assert store.count("q") == 0 and store.queues() == []
