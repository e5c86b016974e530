"""The held record on a real Redis: every message is always in exactly one place (a queue's
list, a worker's record, a delayed set) or acknowledged, whatever order operations, deaths and
racing recoverers come in."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract import census, delayed, held, keys, scripts
from contract import fetch as fetching
from contract.priority import Priorities

TTL_MS = 1000
QUEUE = "rec"
PRIORITIES = Priorities()


@pytest.fixture
def r(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    # The liveness rule trusts deadlines once Redis has been up one timeout.
    while int(redis_client.info("server")["uptime_in_seconds"]) * 1000 < TTL_MS:
        time.sleep(0.2)
    yield redis_client


class Worker:
    """A worker process as the record sees it: its incarnation, its fetch layout, its seq."""

    def __init__(self, client: redis.Redis, name: str) -> None:
        self.client = client
        self.inc = held.new_incarnation(name)
        lists = [
            held.ListRecord.of(self.inc, QUEUE, name) for name in reversed(PRIORITIES.lists(QUEUE))
        ]
        self.layout = fetching.Layout(tuple(lists), (QUEUE,))
        self.seq = 1
        self.holding: dict[tuple[int, int], bytes] = {}
        held.join(client, self.inc, ttl_ms=TTL_MS, lists=lists)

    def sync(self, want: int, ops: list[fetching.Op]) -> fetching.Reply:
        args = fetching.args(
            self.inc,
            ttl_ms=TTL_MS,
            count=len(self.layout.lists),
            want=want,
            first_seq=self.seq,
            ops=ops,
        )
        reply = fetching.parse(scripts.run(self.client, "fetch", self.layout.keys(), args))
        self.seq += len(reply.taken)
        for op in ops:
            self.holding.pop((op.slot, op.seq), None)
        for t in reply.taken:
            self.holding[(t.slot, t.seq)] = t.raw
        return reply

    def stage(self, index: int) -> None:
        """What a blocking move does when a message arrives while the worker waits."""
        record = self.layout.lists[index - 1]
        self.client.lmove(record.list_name, record.staging_key, "RIGHT", "LEFT")

    def die(self) -> None:
        """Its deadline passes now (as it does TTL_MS after a SIGKILL)."""
        seconds, micros = self.client.time()
        self.client.zadd(keys.workers(), {self.inc: seconds * 1000 + micros // 1000 - 1})


def everywhere(client: redis.Redis, workers: list[Worker]) -> Counter[bytes]:
    """Every message in Redis, wherever it is."""
    seen: Counter[bytes] = Counter()
    for name in PRIORITIES.lists(QUEUE):
        seen.update(client.lrange(name, 0, -1))
    for w in workers:
        for record in w.layout.lists:
            seen.update(client.hvals(record.held_key))
            seen.update(client.lrange(record.staging_key, 0, -1))
    for m in client.zrange(keys.delayed(QUEUE), 0, -1):
        seen[delayed.parse_member(m)[1]] += 1
    return seen


def publish(client: redis.Redis, n: int, start: int = 0, priority: int = 0) -> list[bytes]:
    messages = [f"m{i}".encode() for i in range(start, start + n)]
    for m in messages:
        client.lpush(PRIORITIES.list_for(QUEUE, priority), m)
    return messages


def test_fetch_takes_by_priority_and_oldest_first(r: redis.Redis) -> None:
    publish(r, 3)
    publish(r, 2, start=10, priority=9)
    w = Worker(r, "w")
    taken = [t.raw for t in w.sync(4, []).taken]
    assert taken == [b"m10", b"m11", b"m0", b"m1"]
    assert census.read(r, [QUEUE])[QUEUE].held_live == 4


def test_recovery_returns_a_dead_workers_messages_to_the_front_first_taken_first(
    r: redis.Redis,
) -> None:
    publish(r, 5)
    w = Worker(r, "w")
    w.sync(2, [])
    w.stage(4)  # the queue's own list is the last in the layout (step 0)
    assert held.recover(r, w.inc) == -1  # alive: nothing moves
    w.die()
    assert census.read(r, [QUEUE])[QUEUE].held_dead == 3
    assert held.recover(r, w.inc) == 3
    assert held.recover(r, w.inc) == 0  # once
    consumer = Worker(r, "next")
    assert [t.raw for t in consumer.sync(5, []).taken] == [b"m0", b"m1", b"m2", b"m3", b"m4"]


def test_a_dead_worker_is_fenced_its_heartbeat_does_not_revive_it(r: redis.Redis) -> None:
    publish(r, 2)
    w = Worker(r, "w")
    w.die()
    assert not held.beat(r, w.inc, ttl_ms=TTL_MS).alive
    assert w.sync(2, []).fenced
    assert r.llen(QUEUE) == 2


@pytest.mark.parametrize("late", ["ack", "giveback", "park"])
def test_a_late_settlement_of_a_recovered_message_changes_nothing(
    r: redis.Redis, late: str
) -> None:
    """A worker declared dead whose process lived on settles a message recovery gave back."""
    messages = publish(r, 2)
    w = Worker(r, "w")
    taken = w.sync(2, []).taken
    w.die()
    assert held.recover(r, w.inc) == 2
    t = taken[0]
    member = delayed.member(QUEUE, t.raw)
    op = {
        "ack": fetching.Ack(t.slot, t.seq),
        "giveback": fetching.GiveBack(t.slot, t.seq),
        "park": fetching.Park(t.slot, t.seq, 1, 0, member),
    }[late]
    w.sync(0, [op])
    assert everywhere(r, [w]) == Counter(messages)


def test_racing_recoverers_return_each_message_once(r: redis.Redis) -> None:
    messages = publish(r, 300)
    w = Worker(r, "w")
    w.sync(200, [])
    w.die()
    results: list[int] = []
    clients = [redis.Redis(connection_pool=r.connection_pool) for _ in range(8)]
    start = threading.Barrier(len(clients))

    def race(c: redis.Redis) -> None:
        start.wait()
        for _ in range(20):
            results.append(held.recover(c, w.inc))

    threads = [threading.Thread(target=race, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(n for n in results if n > 0) == 200
    assert sorted(r.lrange(QUEUE, 0, -1)) == sorted(messages)


def test_promote_moves_what_is_due_once_earliest_first(r: redis.Redis) -> None:
    publish(r, 3)
    w = Worker(r, "w")
    reply = w.sync(3, [])
    now = reply.now_ms
    ops: list[fetching.Op] = [
        fetching.Park(t.slot, t.seq, 1, now + 50 * (3 - n), delayed.member(QUEUE, t.raw))
        for n, t in enumerate(reply.taken)
    ]
    w.sync(0, ops)
    assert r.llen(QUEUE) == 0
    holding = census.read(r, [QUEUE])[QUEUE]
    assert holding.delayed == 3 and holding.next_due_ms == now + 50
    assert delayed.promote(r, [QUEUE], lead_ms=0) == 0  # nothing due yet
    time.sleep(0.2)
    assert delayed.promote(r, [QUEUE], lead_ms=0) == 3
    assert delayed.promote(r, [QUEUE], lead_ms=0) == 0
    # m2 was due first (now + 50), then m1, then m0: the first due is at the front.
    assert r.lrange(QUEUE, 0, -1) == [b"m0", b"m1", b"m2"]


steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["publish", "fetch", "ack", "giveback", "park", "stage", "die", "recover", "promote"]
        ),
        st.integers(min_value=0, max_value=2),
        st.integers(min_value=0, max_value=5),
    ),
    max_size=40,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=steps)
def test_no_interleaving_loses_or_duplicates_a_message(r: redis.Redis, steps: list) -> None:
    r.flushall()
    workers = [Worker(r, f"w{n}") for n in range(3)]
    published: Counter[bytes] = Counter()
    acked: Counter[bytes] = Counter()
    counter = 0
    for action, who, n in steps:
        counter = _apply(r, workers[who], action, n, counter, published, acked)
        assert everywhere(r, workers) + acked == published
    # In the end every worker dies: recovery leaves nothing in any record.
    for w in workers:
        w.die()
        r.hdel(keys.worker(w.inc), "swept_ms")
        held.recover(r, w.inc)
    holding = census.read(r, [QUEUE])[QUEUE]
    assert (holding.held_live, holding.held_dead) == (0, 0)
    waiting = sum(r.llen(name) for name in PRIORITIES.lists(QUEUE))
    assert waiting + holding.delayed + sum(acked.values()) == sum(published.values())


def _apply(
    r: redis.Redis,
    w: Worker,
    action: str,
    n: int,
    counter: int,
    published: Counter[bytes],
    acked: Counter[bytes],
) -> int:
    """One step of a worker (or of a recoverer on its record); returns the publish counter."""
    if action == "publish":
        for m in publish(r, n + 1, start=counter, priority=3 * (n % 4)):
            published[m] += 1
        return counter + n + 1
    if action == "fetch":
        w.sync(n, [])
    elif action in ("ack", "giveback", "park") and w.holding:
        w.sync(0, [_settle(r, w, action, n, acked)])
    elif action == "stage":
        w.stage(1 + n % len(w.layout.lists))
    elif action == "die":
        w.die()
    elif action == "recover":
        for _ in range(n % 3 + 1):  # recoverers racing one after another
            r.hdel(keys.worker(w.inc), "swept_ms")
            held.recover(r, w.inc)
    elif action == "promote":
        delayed.promote(r, [QUEUE], lead_ms=0)
    return counter


def _settle(r: redis.Redis, w: Worker, action: str, n: int, acked: Counter[bytes]) -> fetching.Op:
    (slot, seq), raw = sorted(w.holding.items())[n % len(w.holding)]
    if action == "giveback":
        return fetching.GiveBack(slot, seq)
    if action == "park":
        member = delayed.member(w.layout.lists[slot - 1].list_name, raw)
        return fetching.Park(slot, seq, 1, 0, member)
    # An ack counts only if the message was still this worker's to ack.
    if r.hexists(w.layout.lists[slot - 1].held_key, seq):
        acked[raw] += 1
    return fetching.Ack(slot, seq)
