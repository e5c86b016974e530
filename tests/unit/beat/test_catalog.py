"""Sources merged: a name belongs to one source, and the log says who lost it."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from scheduler.beat.sources import Changes
from scheduler.beat.sources.catalog import Catalog
from scheduler.beat.spec import Entry, SpecError, parse_schedules


def entry(name: str, source: str) -> Entry:
    (e,) = parse_schedules(f"schedules: [{{name: {name}, task: t, every: 1m}}]").entries
    return dataclasses.replace(e, source=source, where=f"{source}:{name}")


class FakeSource:
    """A source whose entries and changes the test sets."""

    def __init__(self, kind: str, names: list[str]) -> None:
        self.kind = kind
        self.entries = [entry(n, kind) for n in names]
        self.pending = Changes()
        self.rejected: list[tuple[str, str, str]] = []

    def load(self) -> list[Entry]:
        return list(self.entries)

    def poll(self) -> Changes:
        out, self.pending = self.pending, Changes()
        return out

    def fired(self, entry: Entry, tick: datetime, published: datetime) -> None:
        return None

    def reject(self, entry: Entry, field_name: str, message: str) -> None:
        self.rejected.append((entry.name, field_name, message))

    def close(self) -> None:
        return None


def test_a_name_in_the_file_and_in_the_app_stops_the_start_naming_both() -> None:
    catalog = Catalog([FakeSource("app", ["daily"]), FakeSource("file", ["daily", "other"])])
    with pytest.raises(SpecError) as caught:
        catalog.load()
    assert str(caught.value) == "app:daily.name: is also file:daily"


def test_a_later_row_under_a_taken_name_is_refused_and_told() -> None:
    file, db = FakeSource("file", ["daily"]), FakeSource("database", [])
    catalog = Catalog([db, file])
    assert [e.name for e in catalog.load()] == ["daily"]
    db.pending = Changes([entry("daily", "database"), entry("weekly", "database")])
    changes = catalog.poll()
    assert [e.name for e in changes.upserts] == ["weekly"]
    assert db.rejected == [("daily", "name", "is also file:daily")]


def test_a_file_reload_takes_a_rows_name_and_only_the_owner_removes_it() -> None:
    file, db = FakeSource("file", []), FakeSource("database", ["nightly"])
    catalog = Catalog([file, db])
    catalog.load()
    file.pending = Changes([entry("nightly", "file")])
    changes = catalog.poll()
    assert [(e.name, e.source) for e in changes.upserts] == [("nightly", "file")]
    assert db.rejected == [("nightly", "name", "is also file:nightly")]
    db.pending = Changes((), ["nightly"])  # the row's removal no longer concerns the name
    assert not catalog.poll()
