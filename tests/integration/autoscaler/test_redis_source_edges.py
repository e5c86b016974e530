"""Edges of the Redis source on a real redis-server: the script and the pipeline give one answer.

Every case writes data as Redis would hold it, then reads it through the Lua script and through
the plain pipeline, and asserts the counts themselves and that both paths agree exactly.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis
from celery import Celery
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.connection import Connection

from contract import delayed, keys
from contract.inflight import decode as decode_inflight
from contract.inflight import encode as encode_inflight
from contract.priority import priority_lists
from scheduler.autoscaler import redis_source
from scheduler.autoscaler.redis_source import TAIL_WINDOW_BYTES, Counts, CountsReader, held
from tests.support.redis_server import RedisServer
from tests.support.tools import require_tool

pytestmark = pytest.mark.integration

STEPS = (0, 3, 6, 9)
SEP = "\x06\x16"
NOW_MS = 1_800_000_000_000
ONE = (1, 0, 0, 0)
"""One task waiting, in the queue's own list."""


def envelope(headers: dict[str, object], *, body: str = "e30=", queue: str = "q") -> str:
    return json.dumps(
        {
            "body": body,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {"lang": "py", "task": "shoal.noop", **headers},
            "properties": {"delivery_info": {"exchange": "", "routing_key": queue}},
        }
    )


def both(client: redis.Redis, queues: list[str], now_ms: int = NOW_MS) -> dict[str, Counts]:
    """The script's reading, after asserting that the pipeline reads the same."""
    script = CountsReader(client, steps=STEPS, sep=SEP).read(queues, now_ms)
    pipeline = CountsReader(client, steps=STEPS, sep=SEP, use_script=False).read(queues, now_ms)
    assert script == pipeline
    return script


def test_a_message_without_published_at_counts_but_gives_no_stamp(
    redis_client: redis.Redis,
) -> None:
    redis_client.lpush("plain", envelope({}), envelope({}))
    redis_client.lpush(f"plain{SEP}9", "not json at all")
    assert both(redis_client, ["plain"])["plain"] == Counts(3, 0, 0, (), "", (2, 0, 0, 1))


@pytest.mark.parametrize(
    ("values", "oldest"),
    [
        ([1700000000.5, "2023-11-14T22:13:10+00:00"], 1699999990.0),  # ISO older
        ([1699999980.25, "2023-11-14T22:13:10Z"], 1699999980.25),  # number older
        (["1699999970.5", 1700000000], 1699999970.5),  # quoted number
        ([1.69999996e9, -5], -5.0),  # exponent form; a negative stamp is still the oldest
        (["soon", None, 1700000001], 1700000001.0),  # unreadable text and null ignored
        ([float("nan"), float("inf"), 1700000002], 1700000002.0),  # NaN, Infinity ignored
        (["2023-11-14T22:13:20"], None),  # ISO without a zone: not trusted
    ],
)
def test_the_oldest_stamp_over_the_lists_whatever_its_form(
    redis_client: redis.Redis, values: list[object], oldest: float | None
) -> None:
    for step, value in zip(STEPS, values, strict=False):
        name = "mixed" if step == 0 else f"mixed{SEP}{step}"
        redis_client.lpush(name, envelope({"published_at": value}))
    counts = both(redis_client, ["mixed"])["mixed"]
    assert counts.backlog == len(values)
    assert counts.published_at == (() if oldest is None else (oldest,))


@pytest.mark.parametrize(
    "text",
    [
        '{"headers": {"published_at": 1700000000.25}}',
        '{"headers": {"published_at":1700000000.25}}',
        '{"headers": {"published_at" :  1700000000.25 }}',
        '{"headers": {"published_at": 1.70000000025e9, "x": 1}}',
        '{"headers": {"published_at": "1700000000.25"}}',
        '{"headers": {"published_at": "2023-11-14T22:13:20.25+00:00"}}',
        json.dumps({"headers": {"task": "t", "published_at": 1700000000.25}}, indent=2),
        json.dumps({"headers": {"published_at": 1700000000.25}}, separators=(",", ":")),
    ],
)
def test_published_at_in_any_json_layout(redis_client: redis.Redis, text: str) -> None:
    redis_client.lpush("layout", text)
    assert both(redis_client, ["layout"])["layout"].published_at == (1700000000.25,)


@pytest.mark.parametrize(
    "value", ["true", "null", "[1, 2]", '{"a": 1}', "NaN", "-Infinity", '""', "1e999"]
)
def test_published_at_values_that_are_no_time(redis_client: redis.Redis, value: str) -> None:
    redis_client.lpush("odd", '{"headers": {"published_at": ' + value + ', "b": 2}}')
    assert both(redis_client, ["odd"])["odd"] == Counts(1, 0, 0, (), "", ONE)


def test_only_the_tail_of_each_list_is_read(redis_client: redis.Redis) -> None:
    # LPUSH puts the newest at the head: the tail (index -1) is the first pushed, the oldest.
    redis_client.lpush("order", envelope({"published_at": 100.0}), envelope({"published_at": 5}))
    assert both(redis_client, ["order"])["order"].published_at == (100.0,)


def test_a_key_that_ends_in_published_at_is_not_the_header(redis_client: redis.Redis) -> None:
    redis_client.lpush("near", envelope({"not_published_at": 5, "published_at": 1700000000}))
    big = envelope({"x_published_at": 5, "published_at": 1600000000, "pad": "z" * 5000})
    redis_client.lpush(f"near{SEP}3", big)
    assert both(redis_client, ["near"])["near"].published_at == (1600000000.0,)


def test_big_bodies_and_a_stamp_far_from_the_end(
    stock_client: Celery, redis_client: redis.Redis
) -> None:
    # A stock client's message: published_at is the last header, inside the end window.
    stock_client.send_task(
        "shoal.noop", args=["x" * 20_000], queue="big", headers={"published_at": 1700000000.5}
    )
    assert len(redis_client.lindex("big", -1) or b"") > 4 * TAIL_WINDOW_BYTES
    # published_at first, then more than a window of headers: found by the whole-message search.
    far = envelope({"published_at": 1600000000, "kwargsrepr": "y" * (2 * TAIL_WINDOW_BYTES)})
    redis_client.lpush(f"big{SEP}3", far)
    counts = both(redis_client, ["big"])["big"]
    assert counts == Counts(2, 0, 0, (1600000000.0,), "", (1, 1, 0, 0))


@pytest.mark.parametrize(
    "name",
    ["a b", "émails", "日本語", "q:with:colons", "semi;colon,comma", "quote\"d'", "x" * 300],
)
def test_queue_names_with_odd_characters(redis_client: redis.Redis, name: str) -> None:
    for list_name in priority_lists(name, STEPS, SEP)[:2]:
        redis_client.lpush(list_name, envelope({"published_at": 1700000000}, queue=name))
    redis_client.hset(keys.inflight(name), "w1", encode_inflight(4, NOW_MS + 1))
    redis_client.hset(keys.stats(name), "completed", 9)
    parked = delayed.member(priority_lists(name, STEPS, SEP)[0], envelope({}, queue=name).encode())
    redis_client.zadd(keys.delayed(name), {parked: NOW_MS + 5000})
    counts = both(redis_client, [name, "plain"])
    assert counts[name] == Counts(
        2, 4, 9, (1700000000.0,), "", (1, 1, 0, 0), 0, 0, 1, NOW_MS + 5000
    )
    assert counts["plain"] == Counts(0, 0, 0, (), "", (0, 0, 0, 0))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (encode_inflight(3, NOW_MS + 1), 3),
        (encode_inflight(3, NOW_MS), 0),  # expires now: expired
        (encode_inflight(123456789, NOW_MS + 1), 123456789),
        (encode_inflight(1234567890, NOW_MS + 1), 1234567890),  # 10 digits: read in Python
        (encode_inflight(-2, NOW_MS + 1), -2),  # what decode_inflight says, even this
        ("007 1800000000001", 7),
        (" 3 1800000000001", 0),  # split at the first space: an empty count
        ("+3 1800000000001", 3),
        ("3 1_800_000_000_001", 3),
        ("3  1800000000001", 3),
        ("3 1800000000001 ", 3),
        ("3 99999999999999999999999", 3),
        ("3", 0),
        ("3 soon", 0),
        ("1.5 1800000000001", 0),
        ("0x3 1800000000001", 0),
        ("3 1.8e12", 0),
        (b"\xff\xfe 1800000000001", 0),  # not UTF-8: counts 0 (decode_inflight would raise)
    ],
)
def test_in_flight_entries_read_as_the_key_contract_reads_them(
    redis_client: redis.Redis, raw: str | bytes, expected: int
) -> None:
    redis_client.hset(keys.inflight("held"), mapping={"w1": raw, "w2": "2 1800000000001"})
    assert held(raw, NOW_MS) == expected
    assert both(redis_client, ["held"])["held"].in_flight == expected + 2


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(values=st.lists(st.text(alphabet="0123456789 +-_.x\t", max_size=20), max_size=6))
def test_any_in_flight_value_sums_as_decode_inflight_says(
    redis_client: redis.Redis, values: list[str]
) -> None:
    redis_client.delete(keys.inflight("prop"))
    if values:
        redis_client.hset(keys.inflight("prop"), mapping={f"w{i}": v for i, v in enumerate(values)})
    expected = sum(decode_inflight(v, NOW_MS) for v in values)
    assert both(redis_client, ["prop"])["prop"].in_flight == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("17", 17),
        ("0", 0),
        (" 17", 17),
        ("-3", -3),
        ("abc", 0),
        ("12345678901234567", 12345678901234567),
    ],
)
def test_the_completed_counter_in_any_form(
    redis_client: redis.Redis, raw: str, expected: int
) -> None:
    redis_client.hset(keys.stats("done"), "completed", raw)
    assert both(redis_client, ["done"])["done"].completed == expected


def test_many_queues_in_every_state_agree_between_script_and_pipeline(
    redis_client: redis.Redis,
) -> None:
    now = NOW_MS / 1000
    queues = [f"mix{i}" for i in range(60)]
    for i, queue in enumerate(queues):
        for j, name in enumerate(priority_lists(queue, STEPS, SEP)):
            if (i + j) % 3:
                stamps = [now - 10 * (i + j + k) for k in range(i % 4 + 1)]
                redis_client.lpush(name, *[envelope({"published_at": s}) for s in stamps])
        if i % 2:
            redis_client.hset(
                keys.inflight(queue),
                mapping={"alive": f"{i} {NOW_MS + 5000}", "dead": f"{i + 1} {NOW_MS - 5000}"},
            )
        if i % 5:
            redis_client.hset(keys.stats(queue), "completed", i * 7)
    counts = both(redis_client, queues)
    assert list(counts) == queues
    assert counts["mix1"].in_flight == 1 and counts["mix2"].in_flight == 0
    assert counts["mix5"].completed == 0 and counts["mix6"].completed == 42
    lists = [n for q in queues for n in priority_lists(q, STEPS, SEP)]
    assert sum(c.backlog for c in counts.values()) == sum(redis_client.llen(n) for n in lists)
    for queue, c in counts.items():  # each priority step's list, lowest step first
        assert c.waiting == tuple(redis_client.llen(n) for n in priority_lists(queue, STEPS, SEP))
        assert c.backlog == sum(c.waiting)


def test_a_number_too_big_for_a_double_is_no_stamp(redis_client: redis.Redis) -> None:
    text = envelope({"published_at": 0}).replace('"published_at": 0', '"published_at": 1e999')
    redis_client.lpush("huge", text, envelope({"published_at": 1700000000}))
    assert both(redis_client, ["huge"])["huge"].published_at == ()


def test_no_queues_no_round_trip(redis_client: redis.Redis) -> None:
    reader = CountsReader(redis_client, steps=STEPS, sep=SEP)
    assert reader.read([], NOW_MS) == {}


def test_a_flushed_script_cache_and_a_dropped_connection_are_recovered(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    redis_client.lpush("r", envelope({"published_at": 1700000000}))
    own = redis.Redis(port=redis_server.port)
    try:
        reader = CountsReader(own, steps=STEPS, sep=SEP)
        assert reader.read(["r"], NOW_MS)["r"].backlog == 1
        redis_client.script_flush()
        redis_client.lpush("r", envelope({}))
        assert reader.read(["r"], NOW_MS)["r"].backlog == 2
        assert redis_client.client_kill_filter(_type="normal", skipme=True) >= 1
        assert reader.read(["r"], NOW_MS)["r"].backlog == 2
        assert reader.use_script is True
    finally:
        own.close()


def test_scripting_refused_by_acl_falls_back_to_the_pipeline(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    redis_client.acl_setuser(
        "noscript",
        enabled=True,
        passwords=["+pw"],
        keys=["*"],
        commands=["+@all", "-evalsha", "-eval", "-script"],
    )
    limited = redis.Redis(port=redis_server.port, username="noscript", password="pw")
    try:
        redis_client.lpush("acl", envelope({"published_at": 1700000000}))
        redis_client.hset(keys.inflight("acl"), "w", encode_inflight(2, NOW_MS + 1))
        reader = CountsReader(limited, steps=STEPS, sep=SEP)
        assert reader.read(["acl"], NOW_MS)["acl"] == Counts(1, 2, 0, (1700000000.0,), "", ONE)
        assert reader.use_script is False
    finally:
        limited.close()
        redis_client.acl_deluser("noscript")


@pytest.mark.parametrize("use_script", [True, False], ids=["script", "pipeline"])
def test_one_round_trip_whatever_the_number_of_queues(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch, use_script: bool
) -> None:
    sent: list[object] = []
    original = Connection.send_packed_command

    def counted(self: Connection, command: object, check_health: bool = True) -> None:
        sent.append(command)
        original(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counted)
    queues = [f"n{i}" for i in range(300)]
    redis_client.lpush("n7", envelope({"published_at": time.time()}))
    reader = CountsReader(redis_client, steps=STEPS, sep=SEP, use_script=use_script)
    reader.read(queues, NOW_MS)  # may load the script first (NOSCRIPT, SCRIPT LOAD, EVALSHA)
    sent.clear()
    counts = reader.read(queues, NOW_MS)
    assert counts["n7"].backlog == 1 and len(counts) == 300
    assert len(sent) == 1


def test_a_client_that_decodes_responses_reads_the_same(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    redis_client.lpush("dec", envelope({"published_at": "2023-11-14T22:13:20+00:00"}))
    redis_client.lpush(f"dec{SEP}6", envelope({"published_at": 1700000001}))
    redis_client.hset(keys.inflight("dec"), mapping={"a": "+2 1800000000001", "b": "3 99"})
    redis_client.hset(keys.stats("dec"), "completed", " 5")
    expected = both(redis_client, ["dec"])
    assert expected["dec"] == Counts(2, 2, 5, (1700000000.0,), "", (1, 0, 1, 0))
    text = redis.Redis(port=redis_server.port, decode_responses=True)
    try:
        for use_script in (True, False):
            reader = CountsReader(text, steps=STEPS, sep=SEP, use_script=use_script)
            assert reader.read(["dec"], NOW_MS) == expected
    finally:
        text.close()


def test_queues_split_over_several_scripts_read_as_one(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seven queues per EVALSHA, 40 queues: six scripts, one round trip, each value (also
    those the script leaves to Python) on its own queue."""
    queues = [f"c{i}" for i in range(40)]
    for i, queue in enumerate(queues):
        if i % 3:
            redis_client.lpush(queue, *[envelope({"published_at": 1_700_000_000 + i})] * (i % 3))
        redis_client.hset(keys.inflight(queue), "w", encode_inflight(i, NOW_MS + 1000))
    redis_client.lpush("c30", envelope({"published_at": "2023-11-14T22:13:20+00:00"}))
    redis_client.hset(keys.inflight("c22"), "odd", "+5 1800000000001")
    redis_client.hset(keys.stats("c39"), "completed", " 9")
    sent: list[object] = []
    original = Connection.send_packed_command

    def counted(self: Connection, command: object, check_health: bool = True) -> None:
        sent.append(command)
        original(self, command, check_health)

    reader = CountsReader(redis_client, steps=STEPS, sep=SEP, queues_per_script=7)
    reader.read(queues, NOW_MS)  # loads the script
    monkeypatch.setattr(Connection, "send_packed_command", counted)
    counts = reader.read(queues, NOW_MS)
    assert len(sent) == 1
    assert [c.backlog for c in counts.values()] == [i % 3 for i in range(40)][:30] + [1] + [
        i % 3 for i in range(31, 40)
    ]
    assert counts["c30"].published_at == (1_700_000_000.0,)
    assert counts["c22"].in_flight == 22 + 5 and counts["c21"].in_flight == 21
    assert counts["c39"].completed == 9 and counts["c38"].completed == 0
    assert counts["c4"].published_at == (1_700_000_004.0,) and counts["c3"].published_at == ()
    monkeypatch.setattr(Connection, "send_packed_command", original)
    assert counts == both(redis_client, queues)


def test_a_flushed_script_cache_with_several_scripts_is_recovered(
    redis_client: redis.Redis,
) -> None:
    queues = ["f0", "f1", "f2", "f3", "f4"]
    redis_client.lpush("f3", envelope({"published_at": 1_700_000_000}))
    reader = CountsReader(redis_client, steps=STEPS, sep=SEP, queues_per_script=2)
    assert reader.read(queues, NOW_MS)["f3"].backlog == 1
    redis_client.script_flush()
    redis_client.lpush("f4", envelope({}))
    counts = reader.read(queues, NOW_MS)
    assert [c.backlog for c in counts.values()] == [0, 0, 0, 1, 1]
    assert redis_client.ping() is True  # nothing left unread on the pooled connection
    assert reader.use_script is True


@pytest.mark.parametrize("bad_key", [f"w2{SEP}6", "shoal:inflight:w2", "shoal:stats:w2"])
def test_a_key_of_another_type_fails_that_queue_only(
    redis_client: redis.Redis, bad_key: str
) -> None:
    """A string where one of queue w2's lists or hashes should be: w2's reading fails with
    Redis's reason (so its replicas are held), the other queues, in its script and in the
    others, are read; the key is left alone, and once it is gone w2 reads again."""
    assert bad_key in CountsReader(redis_client, steps=STEPS, sep=SEP).script_keys(["w2"])
    queues = ["w0", "w1", "w2", "w3", "w4"]
    for queue in queues:
        redis_client.lpush(queue, envelope({"published_at": 1_700_000_000}))
        redis_client.hset(keys.inflight(queue), "w", encode_inflight(2, NOW_MS + 1000))
    redis_client.set(bad_key, "not a list")
    counts = both(redis_client, queues)
    assert counts["w2"] == Counts(0, 0, 0, (), counts["w2"].error, (0, 0, 0, 0))
    assert counts["w2"].error.startswith("WRONGTYPE")
    assert [counts[q] for q in ("w0", "w1", "w3", "w4")] == [Counts(1, 2, 0, (1.7e9,), "", ONE)] * 4
    source = redis_source.RedisSource(redis_client, steps=STEPS, sep=SEP)
    source.reader.queues_per_script = 2
    readings = source.observe(queues)
    assert [r.ok for r in readings.values()] == [True, True, False, True, True]
    assert readings["w2"].error.startswith("WRONGTYPE") and readings["w3"].backlog == 1
    assert source.reader.use_script is True
    assert redis_client.get(bad_key) == b"not a list"
    redis_client.delete(bad_key)
    readings = source.observe(queues)
    assert [r.ok for r in readings.values()] == [True] * 5 and readings["w2"].backlog == 1


def test_a_server_without_evalsha_falls_back_to_the_pipeline(tmp_path: Path) -> None:
    server = RedisServer(
        require_tool("redis-server"), tmp_path, extra_args=["--rename-command", "EVALSHA", ""]
    )
    server.start()
    try:
        client = server.client()
        client.lpush("plain", envelope({"published_at": 1_700_000_000}))
        reader = CountsReader(client, steps=STEPS, sep=SEP)
        expected = Counts(1, 0, 0, (1_700_000_000.0,), "", ONE)
        assert reader.read(["plain"], NOW_MS)["plain"] == expected
        assert reader.use_script is False
        client.close()
    finally:
        server.stop()
