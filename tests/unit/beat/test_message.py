"""The messages the beat pushes have the layout of a stock Celery 5 client's."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from contract.priority import Priorities, priority_lists
from scheduler.beat import message
from scheduler.beat.spec import Entry, parse_schedules

TICK = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 1, 15, 0, 0, 12000, tzinfo=UTC)
# Keys of what `app.send_task(...)` on Celery 5.7 LPUSHes to Redis (captured once).
STOCK_ENVELOPE = {"body", "content-encoding", "content-type", "headers", "properties"}
STOCK_HEADERS = {
    "lang", "task", "id", "shadow", "eta", "expires", "group", "group_index", "retries",
    "timelimit", "root_id", "parent_id", "argsrepr", "kwargsrepr", "origin", "ignore_result",
    "replaced_task_nesting", "stamped_headers", "stamps",
}  # fmt: skip
STOCK_PROPERTIES = {
    "correlation_id", "reply_to", "delivery_mode", "delivery_info", "priority",
    "body_encoding", "delivery_tag",
}  # fmt: skip


def entries(text: str) -> dict[str, Entry]:
    return parse_schedules(text).by_name()


@pytest.mark.parametrize(
    ("priority", "list_index"), [(None, 0), (0, 0), (2, 0), (3, 1), (5, 1), (6, 2), (9, 3)]
)
def test_messages_go_to_kombus_priority_lists(priority: int | None, list_index: int) -> None:
    (entry,) = entries(
        "schedules: [{name: e, task: t, every: 1m, queue: emails, priority: %s}]"
        % ("null" if priority is None else priority)
    ).values()
    (out,) = message.build(entry, TICK, TICK)
    assert out.list_name == priority_lists("emails")[list_index]


def test_the_configured_priority_steps_and_separator_are_used() -> None:
    # The beat follows SHOAL_PRIORITY_STEPS / SHOAL_PRIORITY_SEP like the workers (it used to
    # file by the default steps whatever the installation's priority settings said).
    (entry,) = entries("schedules: [{name: e, task: t, every: 1m, queue: q, priority: 8}]").values()
    (out,) = message.build(entry, TICK, TICK, Priorities((0, 5, 9), ":"))
    assert out.list_name == "q:5"


def test_single_task_message_layout() -> None:
    entry = entries(
        "schedules: [{name: r, task: reports.send, args: [1], kwargs: {to: ops}, queue: emails,"
        " priority: 7, expires: 30, every: 1m}]"
    )["r"]
    (out,) = message.build(entry, TICK, NOW)
    assert out.list_name == "emails\x06\x166"
    msg = json.loads(out.payload)
    assert set(msg) == STOCK_ENVELOPE
    assert set(msg["headers"]) == STOCK_HEADERS | {
        "published_at", "shoal_beat_entry", "shoal_beat_tick", "shoal_beat_tick_ms",
    }  # fmt: skip
    assert set(msg["properties"]) == STOCK_PROPERTIES | {"expiration"}
    headers, props = msg["headers"], msg["properties"]
    assert (headers["task"], headers["id"], headers["root_id"]) == (
        "reports.send",
        out.task_id,
        out.task_id,
    )
    assert headers["expires"] == "2026-06-01T15:00:30.012000+00:00"
    assert headers["published_at"] == NOW.isoformat()
    assert headers["shoal_beat_tick_ms"] == int(TICK.timestamp() * 1000)
    assert props["delivery_info"] == {"exchange": "", "routing_key": "emails"}
    assert (props["priority"], props["body_encoding"], props["expiration"]) == (
        7,
        "base64",
        "30000",
    )
    assert msg["content-type"] == "application/json"
    body = json.loads(base64.b64decode(msg["body"]))
    assert body == [
        [1],
        {"to": "ops"},
        {"callbacks": None, "errbacks": None, "chain": None, "chord": None},
    ]


def test_task_ids_are_the_same_on_every_replica_and_differ_per_tick() -> None:
    entry = entries("schedules: [{name: r, task: t, every: 1m}]")["r"]
    first = message.build(entry, TICK, NOW)[0].task_id
    assert first == message.build(entry, TICK, datetime(2027, 1, 1, tzinfo=UTC))[0].task_id
    assert first != message.build(entry, datetime(2026, 6, 1, 15, 1, tzinfo=UTC), NOW)[0].task_id


def test_chain_publishes_the_head_with_the_rest_reversed_in_the_body() -> None:
    entry = entries(
        "schedules: [{name: c, every: 1m, queue: etl, chain: ["
        "{task: a}, {task: b, queue: q2, immutable: true}, {task: c, priority: 9}]}]"
    )["c"]
    (out,) = message.build(entry, TICK, NOW)
    msg = json.loads(out.payload)
    assert (out.list_name, msg["headers"]["task"]) == ("etl", "a")
    chain = json.loads(base64.b64decode(msg["body"]))[2]["chain"]
    assert [link["task"] for link in chain] == ["c", "b"]  # Celery pops from the end
    assert chain[1]["options"]["queue"] == "q2" and chain[1]["immutable"] is True
    assert chain[0]["options"] == {
        "queue": "etl",
        "priority": 9,
        "task_id": chain[0]["options"]["task_id"],
    }


def test_group_publishes_every_member_with_one_group_id() -> None:
    entry = entries(
        "schedules: [{name: g, every: 1m,"
        " group: [{task: a}, {task: b, queue: other, priority: 9}]}]"
    )["g"]
    outs = message.build(entry, TICK, NOW)
    assert [o.list_name for o in outs] == ["celery", "other\x06\x169"]
    headers = [json.loads(o.payload)["headers"] for o in outs]
    assert headers[0]["group"] == headers[1]["group"] is not None
    assert [h["group_index"] for h in headers] == [0, 1]
    assert len({o.task_id for o in outs}) == 2
