"""The Redis source on a real redis-server, the same assertions for the script and the pipeline."""

from __future__ import annotations

import time

import pytest
import redis
from celery import Celery

from contract import keys
from contract.inflight import decode as decode_inflight
from contract.inflight import encode as encode_inflight
from contract.priority import priority_lists
from scheduler.autoscaler.redis_source import CountsReader, RedisSource

pytestmark = pytest.mark.integration

STEPS = (0, 3, 6, 9)
SEP = "\x06\x16"


@pytest.fixture(params=[True, False], ids=["script", "pipeline"])
def use_script(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_a_stock_clients_backlog_is_counted_across_every_priority_list(
    stock_client: Celery, redis_client: redis.Redis, use_script: bool
) -> None:
    for priority in range(10):
        for _ in range(priority + 1):  # 1 task at priority 0 ... 10 at priority 9
            stock_client.send_task("shoal.noop", queue="mail", priority=priority)
    lengths = {name: redis_client.llen(name) for name in priority_lists("mail", STEPS, SEP)}
    # kombu files priority p under the highest step <= p: 0-2, 3-5, 6-8, 9.
    assert list(lengths.values()) == [1 + 2 + 3, 4 + 5 + 6, 7 + 8 + 9, 10]
    source = RedisSource(redis_client, steps=STEPS, sep=SEP, use_script=use_script)
    reading = source.observe(["mail", "empty"])
    assert reading["mail"].backlog == 55
    assert reading["mail"].ok and reading["empty"].backlog == 0


def test_oldest_age_comes_from_the_published_at_header_of_the_tail(
    stock_client: Celery, redis_client: redis.Redis, use_script: bool
) -> None:
    now = time.time()
    stock_client.send_task("shoal.noop", queue="aged", headers={"published_at": now - 40})
    stock_client.send_task("shoal.noop", queue="aged", headers={"published_at": now - 5})
    stock_client.send_task(
        "shoal.noop", queue="aged", priority=9, headers={"published_at": now - 90.5}
    )
    source = RedisSource(
        redis_client, steps=STEPS, sep=SEP, use_script=use_script, clock=lambda: now
    )
    reading = source.observe(["aged"])["aged"]
    assert reading.backlog == 3
    assert reading.oldest_age_s == pytest.approx(90.5, abs=0.01)


def test_iso_published_at_is_read_too(
    stock_client: Celery, redis_client: redis.Redis, use_script: bool
) -> None:
    stock_client.send_task(
        "shoal.noop", queue="iso", headers={"published_at": "2030-01-01T00:00:00+00:00"}
    )
    at = 1893456000.0 + 12.0  # 2030-01-01T00:00:12Z
    source = RedisSource(
        redis_client, steps=STEPS, sep=SEP, use_script=use_script, clock=lambda: at
    )
    assert source.observe(["iso"])["iso"].oldest_age_s == pytest.approx(12.0)


def test_without_a_header_the_age_is_estimated_from_when_the_backlog_appeared(
    stock_client: Celery, redis_client: redis.Redis, use_script: bool
) -> None:
    clock = [1000.0]
    source = RedisSource(
        redis_client, steps=STEPS, sep=SEP, use_script=use_script, clock=lambda: clock[0]
    )
    assert source.observe(["plain"])["plain"].oldest_age_s is None
    stock_client.send_task("shoal.noop", queue="plain")
    clock[0] = 1002.0
    assert source.observe(["plain"])["plain"].oldest_age_s == 0.0
    clock[0] = 1009.0
    assert source.observe(["plain"])["plain"].oldest_age_s == pytest.approx(7.0)


@pytest.mark.parametrize(
    "entries",
    [
        {"w1": encode_inflight(3, 2_000_000), "w2": encode_inflight(5, 2_000_000)},
        {"w1": encode_inflight(3, 2_000_000), "dead": encode_inflight(9, 999_999)},
        {"w1": "garbage", "w2": "7 not-a-time", "w3": encode_inflight(0, 2_000_000)},
        {"w1": encode_inflight(4, 1_000_001), "w2": encode_inflight(6, 1_000_000)},
    ],
)
def test_in_flight_sum_matches_the_key_contracts_reader(
    redis_client: redis.Redis, use_script: bool, entries: dict[str, str]
) -> None:
    now_ms = 1_000_000
    redis_client.hset(keys.inflight("held"), mapping=entries)
    redis_client.hset(keys.stats("held"), "completed", 17)
    reader = CountsReader(redis_client, steps=STEPS, sep=SEP, use_script=use_script)
    counts = reader.read(["held"], now_ms)["held"]
    assert counts.in_flight == sum(decode_inflight(v, now_ms) for v in entries.values())
    assert counts.completed == 17


def test_rates_follow_the_counters(redis_client: redis.Redis, use_script: bool) -> None:
    clock = [100.0]
    source = RedisSource(
        redis_client,
        steps=STEPS,
        sep=SEP,
        use_script=use_script,
        clock=lambda: clock[0],
        rate_half_life_s=0.0,  # no smoothing: the raw rates
    )
    source.observe(["r"])
    redis_client.hset(keys.stats("r"), "completed", 50)
    redis_client.lpush("r", *["{}"] * 30)
    clock[0] = 110.0
    reading = source.observe(["r"])["r"]
    assert reading.completion_rate_per_s == pytest.approx(5.0)
    assert reading.arrival_rate_per_s == pytest.approx(8.0)  # (30 waiting + 50 done) / 10 s


def test_redis_going_away_gives_failed_readings_not_an_exception() -> None:
    from tests.support.ports import free_port

    client = redis.Redis(port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    readings = RedisSource(client).observe(["a", "b"])
    assert [r.ok for r in readings.values()] == [False, False]
    assert "ConnectionError" in readings["a"].error
