"""The in-memory schedule: due entries come out earliest first, changes make old slots stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.beat.spec import parse_schedules
from scheduler.beat.table import Table

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def entry(name: str, every: str = "1m"):  # type: ignore[no-untyped-def]
    (e,) = parse_schedules(f"schedules: [{{name: {name}, task: t, every: {every}}}]").entries
    return e


def test_due_slots_come_out_earliest_first_and_only_when_due() -> None:
    table = Table()
    for i, name in enumerate(["c", "a", "b"]):
        table.upsert(entry(name))
        (slot,) = [s for s in table.unsynced()]
        table.schedule(slot, T0 + timedelta(seconds=10 - i))
    assert table.next_due_ts() == (T0 + timedelta(seconds=8)).timestamp()
    assert table.pop_due((T0 + timedelta(seconds=7)).timestamp(), 100) == []
    due = table.pop_due((T0 + timedelta(seconds=9)).timestamp(), 100)
    assert [s.entry.name for s in due] == ["b", "a"]
    assert [s.entry.name for s in table.pop_due(T0.timestamp() + 60, 100)] == ["c"]


def test_a_changed_or_removed_entry_leaves_no_live_heap_item() -> None:
    table = Table()
    table.upsert(entry("a"))
    table.upsert(entry("b"))
    slots = {s.entry.name: s for s in table.unsynced()}
    table.schedule(slots["a"], T0)
    table.schedule(slots["b"], T0)
    table.upsert(entry("a", "5m"))  # changed: read its state again before it is due
    table.remove("b")
    assert table.pop_due(T0.timestamp() + 1, 100) == []
    assert [s.entry.name for s in table.unsynced()] == ["a"]


def test_starting_to_lead_reads_every_state_again() -> None:
    table = Table()
    for name in ("a", "b"):
        table.upsert(entry(name))
    for slot in table.unsynced():
        table.schedule(slot, T0)
    table.unsync_all()
    assert table.next_due_ts() is None
    assert sorted(s.entry.name for s in table.unsynced()) == ["a", "b"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=200), st.integers(1, 50))
def test_every_scheduled_slot_comes_out_once_in_order(offsets: list[int], limit: int) -> None:
    table = Table()
    for i in range(len(offsets)):
        table.upsert(entry(f"e{i}"))
    for slot in table.unsynced():
        table.schedule(slot, T0 + timedelta(seconds=offsets[int(slot.entry.name[1:])]))
    out = []
    while batch := table.pop_due(T0.timestamp() + 10_001, limit):
        assert len(batch) <= limit
        out += batch
    dues = [s.due for s in out]
    assert len(out) == len(offsets) and dues == sorted(dues)  # type: ignore[type-var]
