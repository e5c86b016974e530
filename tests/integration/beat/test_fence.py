"""The Redis adapters on a real Redis: the fencing script and the leader lease."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import redis
import redis.exceptions

from scheduler.beat import message
from scheduler.beat.fence import Claim, Fence, Outcome
from scheduler.beat.lease import Lease
from scheduler.beat.spec import parse_schedules
from tests.support.redis_server import RedisServer

TICK = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ENTRY = parse_schedules("schedules: [{name: e, task: t, queue: fq, every: 1s}]").entries[0]


def test_sixteen_racing_claims_of_one_tick_publish_once(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    outcomes: list[Outcome] = []
    barrier = threading.Barrier(16)

    def claim() -> None:
        fence = Fence(redis_server.client())
        msgs = message.build(ENTRY, TICK, TICK)
        barrier.wait()
        outcomes.append(fence.claim("e", TICK, now=TICK, next_due=None, messages=msgs))

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == sorted([Outcome.FIRED] + [Outcome.DUPLICATE] * 15)
    assert redis_client.llen("fq") == 1
    assert redis_client.hget("shoal:beat:entry:e", "refused") == b"15"


def test_an_older_tick_is_refused_after_a_newer_one(redis_client: redis.Redis) -> None:
    fence = Fence(redis_client)
    later = TICK + timedelta(seconds=1)
    assert fence.claim("e", later, now=later, next_due=None) is Outcome.FIRED
    assert fence.claim("e", TICK, now=later, next_due=None) is Outcome.DUPLICATE
    skipped = later + timedelta(seconds=1)
    assert fence.claim("e", skipped, now=skipped, next_due=None, mode="skip") is Outcome.CLAIMED
    st = fence.states(["e"])["e"]
    assert (st.last_tick, st.run_count) == (skipped, 1)


def test_condition_claims_fire_only_on_a_rising_edge(redis_client: redis.Redis) -> None:
    fence = Fence(redis_client)
    modes = ["cond1", "cond1", "cond0", "cond0", "cond1", "cond0", "cond1"]
    got = [
        fence.claim("w", TICK + timedelta(seconds=i), now=TICK, next_due=None, mode=mode)
        for i, mode in enumerate(modes)
    ]
    fired = [i for i, outcome in enumerate(got) if outcome is Outcome.FIRED]
    assert fired == [0, 4, 6]  # no earlier value counts as false


def test_lease_is_exclusive_renewable_and_released(redis_client: redis.Redis) -> None:
    one, two = Lease(redis_client, "one", 5), Lease(redis_client, "two", 5)
    assert one.refresh() and not two.refresh()
    assert one.refresh()  # renewal
    assert one.token == 1
    one.release()
    assert two.refresh() and two.token == 2
    assert not one.refresh()


def test_a_script_redis_forgot_is_loaded_again_and_the_refused_calls_resent(
    redis_client: redis.Redis,
) -> None:
    fence = Fence(redis_client)
    assert fence.claim("e", TICK, now=TICK, next_due=None) is Outcome.FIRED
    redis_client.script_flush()  # as after a Redis restart
    later = [TICK + timedelta(seconds=i) for i in range(1, 1201)]  # three calls of the burst
    claims = [Claim("e", int(t.timestamp() * 1000), 0, None) for t in later]
    outcomes = fence.claim_many(claims)
    assert outcomes == [Outcome.FIRED] * len(later)
    assert redis_client.hget("shoal:beat:entry:e", "run_count") == b"1201"


def test_a_script_error_is_raised_not_counted_as_an_outcome(redis_client: redis.Redis) -> None:
    redis_client.rpush("shoal:beat:entry:broken", "not a hash")
    with pytest.raises(redis.exceptions.ResponseError):
        Fence(redis_client).claim("broken", TICK, now=TICK, next_due=None)
    assert Fence(redis_client).claim("fine", TICK, now=TICK, next_due=None) is Outcome.FIRED
