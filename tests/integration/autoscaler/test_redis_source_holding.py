"""The observation reads the delivery census in its round trip: tasks held by live and by dead
workers, delayed tasks and the first due time, on a real Redis with the contract's own scripts
(workers take messages with ``fetch.lua``, die by their deadline passing, park by ZADD as the
fetch script's park does)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from redis.connection import Connection

from contract import delayed, held, keys, scripts
from contract import fetch as fetching
from contract.priority import Priorities
from scheduler.autoscaler.redis_source import Counts, CountsReader, RedisSource

pytestmark = pytest.mark.integration

PRIORITIES = Priorities()
STEPS, SEP = PRIORITIES.steps, PRIORITIES.separator
TTL_MS = 1000


@pytest.fixture
def r(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    # The liveness rule trusts deadlines once Redis has been up one liveness timeout.
    while int(redis_client.info("server")["uptime_in_seconds"]) * 1000 < TTL_MS:
        time.sleep(0.2)
    yield redis_client


def take(client: redis.Redis, queue: str, name: str, count: int) -> str:
    """A worker process joins and takes ``count`` messages of ``queue`` into its held record,
    as a worker's fetch does; returns its incarnation."""
    inc = held.new_incarnation(name)
    lists = [held.ListRecord.of(inc, queue, n) for n in reversed(PRIORITIES.lists(queue))]
    held.join(client, inc, ttl_ms=TTL_MS, lists=lists)
    layout = fetching.Layout(tuple(lists), (queue,))
    args = fetching.args(inc, ttl_ms=TTL_MS, count=len(lists), want=count, first_seq=1, ops=[])
    reply = fetching.parse(scripts.run(client, "fetch", layout.keys(), args))
    assert len(reply.taken) == count
    return inc


def die(client: redis.Redis, inc: str) -> None:
    """The incarnation's deadline passes now (as it does a liveness timeout after a SIGKILL)."""
    seconds, micros = client.time()
    client.zadd(keys.workers(), {inc: seconds * 1000 + micros // 1000 - 1})


def park(client: redis.Redis, queue: str, raw: bytes, due_ms: int) -> None:
    client.zadd(keys.delayed(queue), {delayed.member(queue, raw): due_ms})


def redis_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds * 1000 + micros // 1000)


def test_held_by_live_and_dead_workers_and_delayed_tasks_in_one_round_trip(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    r.lpush("mail", *[f"m{i}".encode() for i in range(10)])
    r.lpush(PRIORITIES.list_for("mail", 9), b"urgent")
    take(r, "mail", "alive", 4)  # the urgent one first, then three of the queue's own list
    die(r, take(r, "mail", "dead", 2))
    now = redis_ms(r)
    park(r, "mail", b"later", now + 90_000)
    park(r, "mail", b"sooner", now + 30_000)
    park(r, "idle", b"far", now + 3_600_000)
    reader = CountsReader(r, steps=STEPS, sep=SEP)
    reader.read(["mail", "idle"], now)  # may load the scripts first
    sent: list[object] = []
    original = Connection.send_packed_command

    def counted(self: Connection, command: object, check_health: bool = True) -> None:
        sent.append(command)
        original(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counted)
    counts = reader.read(["mail", "idle"], now)
    assert len(sent) == 1
    assert counts["mail"] == Counts(5, 0, 0, (), "", (5, 0, 0, 0), 4, 2, 2, now + 30_000)
    assert counts["idle"] == Counts(0, 0, 0, (), "", (0, 0, 0, 0), 0, 0, 1, now + 3_600_000)


def test_the_reading_says_when_the_first_delayed_task_is_due_and_counts_the_dead_as_work(
    r: redis.Redis,
) -> None:
    r.lpush("mail", b"a", b"b", b"c")
    die(r, take(r, "mail", "dead", 2))
    now_ms = redis_ms(r)
    park(r, "mail", b"x", now_ms + 45_000)
    source = RedisSource(r, clock=lambda: now_ms / 1000)
    reading = source.observe(["mail"])["mail"]
    assert (reading.backlog, reading.held_dead, reading.held_live) == (1, 2, 0)
    assert reading.waiting == (1, 0, 0, 0)
    assert (reading.delayed, reading.next_due_in_s) == (1, 45.0)
    assert sum(held.sweep(r, ttl_ms=0).values()) == 2  # what the controller's upkeep runs
    later = source.observe(["mail"])["mail"]
    assert (later.backlog, later.held_dead) == (3, 0)  # given back by the sweep


def test_the_pipeline_fallback_reads_delayed_tasks_but_not_what_workers_hold(
    r: redis.Redis,
) -> None:
    """Only the census script can count held records; without scripting they read 0 (and the
    switch to the pipeline says so); delayed sets are plain sorted sets, read alike."""
    r.lpush("mail", b"a", b"b")
    take(r, "mail", "alive", 1)
    now = redis_ms(r)
    park(r, "mail", b"x", now + 5_000)
    script = CountsReader(r, steps=STEPS, sep=SEP).read(["mail"], now)["mail"]
    pipeline = CountsReader(r, steps=STEPS, sep=SEP, use_script=False).read(["mail"], now)["mail"]
    assert (script.held_live, pipeline.held_live) == (1, 0)
    assert script._replace(held_live=0) == pipeline
    assert pipeline.delayed == 1 and pipeline.next_due_ms == now + 5_000


def test_a_delayed_set_of_another_type_fails_the_observation_not_the_controller(
    r: redis.Redis,
) -> None:
    """The census script stops at a delayed set that is no sorted set: every queue's reading
    fails (replicas held), with Redis's reason; once the key is gone they read again."""
    r.lpush("mail", b"a")
    r.set(keys.delayed("broken"), "not a sorted set")
    source = RedisSource(r)
    readings = source.observe(["mail", "broken"])
    assert [x.ok for x in readings.values()] == [False, False]
    assert "WRONGTYPE" in readings["mail"].error
    r.delete(keys.delayed("broken"))
    assert source.observe(["mail", "broken"])["mail"].backlog == 1
