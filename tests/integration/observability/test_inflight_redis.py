"""The in-flight key contract against a real Redis: writer, reader, expiry, clean removal."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis

from contract import keys
from contract.inflight import encode as encode_inflight
from contract.inflight import read_inflight, remove_expired
from workers.inflight import Publisher, Tally

NOW_MS = 1_700_000_000_000


class OneRoundTrip:
    """Lets a reader use pipelines only, and counts how many it executes."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.executed = 0

    def pipeline(self, transaction: bool = True) -> Any:
        pipe = self.client.pipeline(transaction=transaction)
        original = pipe.execute

        def execute() -> Any:
            self.executed += 1
            return original()

        pipe.execute = execute  # type: ignore[method-assign]
        return pipe


def test_reader_sees_live_entries_of_every_queue_in_one_round_trip(
    redis_client: redis.Redis,
) -> None:
    redis_client.hset(keys.inflight("a"), "pod-1", encode_inflight(3, NOW_MS + 1))
    redis_client.hset(keys.inflight("a"), "pod-2", encode_inflight(0, NOW_MS + 5000))
    redis_client.hset(keys.inflight("a"), "pod-dead", encode_inflight(7, NOW_MS))
    redis_client.hset(keys.inflight("b"), "pod-3", "garbage")
    spy = OneRoundTrip(redis_client)
    counts = read_inflight(spy, ["a", "b", "c"], NOW_MS)  # type: ignore[arg-type]
    assert counts == {"a": {"pod-1": 3, "pod-2": 0}, "b": {}, "c": {}}
    assert spy.executed == 1


def test_remove_expired_deletes_only_dead_entries(redis_client: redis.Redis) -> None:
    redis_client.hset(keys.inflight("a"), "alive", encode_inflight(1, NOW_MS + 1))
    redis_client.hset(keys.inflight("a"), "dead", encode_inflight(1, NOW_MS - 1))
    assert remove_expired(redis_client, ["a", "b"], NOW_MS) == 1
    assert redis_client.hkeys(keys.inflight("a")) == [b"alive"]


def test_publisher_writes_batches_and_cleans_up(redis_client: redis.Redis) -> None:
    pool = redis_client.connection_pool.connection_kwargs
    publisher = Publisher(
        client_factory=lambda: redis.Redis(port=pool["port"]),
        worker_id="pod-9",
        queues=("a", "b"),
        heartbeat_interval_s=2.0,
    )
    publisher.offer(Tally({"a": 2, "b": 0}, {"a": 5, "b": 0}))
    assert publisher.flush() is True
    raw = redis_client.hget(keys.inflight("a"), "pod-9")
    assert raw is not None and raw.split()[0] == b"2"
    assert redis_client.hget(keys.stats("a"), "completed") == b"5"
    assert redis_client.hget(keys.stats("b"), "completed") is None, "no zero increments"
    publisher.offer(Tally({"a": 0, "b": 1}, {"a": 8, "b": 0}))
    publisher.flush()
    assert redis_client.hget(keys.stats("a"), "completed") == b"8", "only the delta is added"
    publisher.offer(Tally({"a": 0, "b": 0}, {"a": 9, "b": 1}))
    publisher.stop()
    assert redis_client.hgetall(keys.inflight("a")) == {}
    assert redis_client.hgetall(keys.inflight("b")) == {}
    assert redis_client.hget(keys.stats("a"), "completed") == b"9"
    assert redis_client.hget(keys.stats("b"), "completed") == b"1"


def test_publisher_survives_redis_being_away(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    port = redis_client.connection_pool.connection_kwargs["port"]
    reachable = {"now": False}

    def factory() -> redis.Redis:
        if not reachable["now"]:
            raise redis.ConnectionError("Error 111 connecting. Connection refused.")
        return redis.Redis(port=port)

    publisher = Publisher(
        client_factory=factory, worker_id="pod-5", queues=("a",), heartbeat_interval_s=2.0
    )
    publisher.offer(Tally({"a": 1}, {"a": 4}))
    with caplog.at_level(logging.INFO, logger="shoal.inflight"):
        assert publisher.flush() is False
        assert publisher.flush() is False
        reachable["now"] = True
        assert publisher.flush() is True
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "cannot write" in m]) == 1, "one warning per outage"
    assert any("reachable again" in m for m in messages)
    assert redis_client.hget(keys.stats("a"), "completed") == b"4", "nothing lost meanwhile"
    publisher.stop()
