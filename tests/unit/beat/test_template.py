"""A compiled template renders the same message as ``message.build``, whatever the entry."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from contract.priority import Priorities
from scheduler.beat import message, template
from scheduler.beat.metrics import BatchHistogram
from scheduler.beat.spec import Entry, Signature, parse_schedules

TICK = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NOW = TICK + timedelta(milliseconds=37)


def file_entry(extra: str = "") -> Entry:
    text = "schedules: [{name: e, task: reports.build, every: 1m" + extra + "}]"
    (entry,) = parse_schedules(text).entries
    return entry


def comparable(payload: str) -> dict[str, Any]:
    msg: dict[str, Any] = json.loads(payload)
    tag = msg["properties"].pop("delivery_tag")
    assert uuid.UUID(tag).version == 4 and str(uuid.UUID(tag)) == tag
    return msg


APP_OPTIONS = {
    "exchange": "", "routing_key": "emails", "headers": {"team": "ops", "celery_beat_task": True},
    "time_limit": 30, "soft_time_limit": None, "ignore_result": None, "argsrepr": "[1, 'a']",
    "kwargsrepr": "{'k': 2}",
}  # fmt: skip
ENTRIES = {
    "plain": file_entry(),
    "queue and priority": file_entry(", queue: emails, priority: 7"),
    "expires in seconds": file_entry(", expires: 30"),
    "args": file_entry(", args: [1, 'two', {x: null}], kwargs: {to: [ops]}"),
    "app options": dataclasses.replace(
        file_entry(),
        source="app",
        signatures=(
            Signature("orders.send", (1, "a"), {"k": 2}, "emails", 5, options=APP_OPTIONS),
        ),
    ),
    "expires at an instant": dataclasses.replace(
        file_entry(), expires_at=TICK + timedelta(hours=1), source="database"
    ),
    "a name JSON must escape": dataclasses.replace(file_entry(), name='nightly "ü" \\ report'),
}


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_render_and_prepare_give_the_message_build_gives(name: str) -> None:
    entry = ENTRIES[name]
    compiled = template.compile_entry(entry, Priorities())
    assert compiled is not None
    (built,) = message.build(entry, TICK, NOW)
    rendered = template.render(compiled, entry, TICK, NOW)
    assert (rendered.list_name, rendered.task_id) == (built.list_name, built.task_id)
    assert comparable(rendered.payload) == comparable(built.payload)
    ahead = template.prepare(compiled, entry, TICK)
    if compiled.expiry:
        assert ahead is None  # the expiry counts from the publish instant
    else:
        assert ahead is not None
        finished = ahead.finish(NOW.isoformat())
        assert comparable(finished.payload) == comparable(built.payload)


def test_entries_alike_share_one_template() -> None:
    one = dataclasses.replace(file_entry(", queue: q"), name="one")
    two = dataclasses.replace(file_entry(", queue: q"), name="two")
    assert template.compile_entry(one, Priorities()) is template.compile_entry(two, Priorities())


def test_chains_and_groups_are_built_whole() -> None:
    (entry,) = parse_schedules(
        "schedules: [{name: c, every: 1m, chain: [{task: a}, {task: b}]}]"
    ).entries
    assert template.compile_entry(entry, Priorities()) is None


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 400, allow_nan=False), max_size=200))
def test_a_batch_histogram_exposes_what_one_value_at_a_time_would(values: list[float]) -> None:
    from prometheus_client import Histogram

    buckets = (0.01, 0.1, 1, 10, 60)
    one, batch = CollectorRegistry(), CollectorRegistry()
    stock = Histogram("late_seconds", "x", buckets=buckets, registry=one)
    ours = BatchHistogram("late_seconds", "x", buckets=buckets, registry=batch)
    for v in values:
        stock.observe(v)
    ours.observe_many(values[: len(values) // 2])
    ours.observe_many(values[len(values) // 2 :])

    def lines(registry: CollectorRegistry) -> list[str]:
        text = generate_latest(registry).decode()
        return sorted(x for x in text.splitlines() if x.startswith("late_seconds_") and
                      "_created" not in x and "_sum" not in x)  # fmt: skip

    assert lines(batch) == lines(one)
