"""An interval's gap decided by arithmetic gives what walking it tick by tick gives."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from contract.priority import Priorities
from scheduler.beat.metrics import BeatMetrics
from scheduler.beat.planning import Planner
from scheduler.beat.schedules import CatchUp, Every, ticks_between
from scheduler.beat.spec import parse_schedules
from scheduler.beat.table import Table

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(
    interval_s=st.sampled_from([1.0, 2.5, 60.0, 90.0, 3600.0]),
    anchor_s=st.floats(0, 4000),
    last_s=st.floats(0, 5000),
    gap_s=st.floats(0, 20_000),
    policy=st.sampled_from([CatchUp.LATEST, CatchUp.NONE]),
    deadline_s=st.one_of(st.none(), st.floats(0, 300)),
)
def test_the_interval_shortcut_decides_as_the_walk(
    interval_s: float, anchor_s: float, last_s: float, gap_s: float, policy: CatchUp,
    deadline_s: float | None,
) -> None:  # fmt: skip
    (entry,) = parse_schedules("schedules: [{name: e, task: t, every: 1m}]").entries
    entry = dataclasses.replace(
        entry, schedule=Every(interval_s, T0 + timedelta(seconds=anchor_s)), catch_up=policy,
        starting_deadline_s=deadline_s,
    )  # fmt: skip
    table = Table()
    table.upsert(entry)
    (slot,) = table.unsynced()
    slot.last = T0 + timedelta(seconds=last_s)
    now = slot.last + timedelta(seconds=gap_s)
    planner = Planner(table, Priorities(), BeatMetrics(CollectorRegistry()), lambda: 0)
    if len(ticks_between(entry.schedule, slot.last, now)) < 2:
        return  # the planner takes this path only after a gap: two or more ticks due
    walked = planner._plan_walked(slot, now, now)
    shortcut = planner._plan_interval_gap(slot, now, now)
    fired = [(c.tick_ms, c.mode) for c in shortcut.claims if c.mode != "skip"]
    assert fired == [(c.tick_ms, c.mode) for c in walked.claims if c.mode != "skip"]
    assert {c.tick_ms for c in shortcut.claims} == {c.tick_ms for c in walked.claims}
    assert shortcut.skipped == walked.skipped
    assert shortcut.next_due == walked.next_due
