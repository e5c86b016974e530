"""django-celery-beat's tables as a source: every row an entry, edits in force within seconds.

Start: the app's ``beat_schedule`` is synced into the table (:mod:`.db_sync`), then every row
is read once. Then, each poll (every second), one query reads django-celery-beat's change
marker (``PeriodicTasks.last_update``, bumped by every admin or ORM save). Only when it moved
(and for :data:`RECHECK_S` after) are rows read again, and only these: rows saved since the
last read (``date_changed``, with a minute's margin for slow transactions), rows using a
schedule row that changed, and the ids when the count says rows were deleted. A row is parsed
again only when its definition changed. Every five minutes everything is read, as
django-celery-beat does, for writes that bypass ``save()``.

A bad row (a crontab field Celery rejects, an unknown time zone, args that are not JSON, a
name another source uses ...) is skipped with one log line naming the row and the field and
counted (``shoal_beat_bad_rows_total``); it is tried again when it changes. The others fire on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from scheduler.beat.metrics import BeatMetrics
from scheduler.beat.schedules import Schedule
from scheduler.beat.sources import Changes
from scheduler.beat.sources.db_read import DatabaseReader
from scheduler.beat.sources.db_rows import (
    KINDS,
    BadRow,
    ScheduleRows,
    TaskRow,
    parse_row,
    parse_schedule,
)
from scheduler.beat.sources.db_write import RunWriter
from scheduler.beat.spec import Entry

log = logging.getLogger("shoal.beat")
FULL_READ_EVERY_S = 300.0
"""django-celery-beat's ``SCHEDULE_SYNC_MAX_INTERVAL``."""
RECHECK_S = 5.0
"""After the marker moves, rows are read again each poll for this long: django-celery-beat
bumps the marker before the row's own save, so outside a transaction the marker can be seen
before the row is."""
SAVE_MARGIN = timedelta(seconds=60)
"""Rows saved this long before the newest ``date_changed`` seen are read again (a transaction
that commits late carries an older ``date_changed``)."""


@dataclass
class RowState:
    fingerprint: int
    entry: str | None
    """The name of the entry the row gave (None: disabled or bad)."""


class DatabaseSource:
    kind = "database"

    def __init__(
        self,
        app: Any,
        metrics: BeatMetrics,
        *,
        app_zone: str,
        full_read_every_s: float = FULL_READ_EVERY_S,
        writer: RunWriter | None = None,
        overlaid: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.app_zone = app_zone
        self.full_read_every_s = full_read_every_s
        self.reader = DatabaseReader()
        self.writer = writer or RunWriter(metrics)
        """Started at the first run this replica publishes."""
        self.reserved: Mapping[str, str] = {}
        """Names that other sources own, with where they are defined."""
        self.rows: dict[int, RowState] = {}
        self.bad: dict[int, BadRow] = {}
        self.schedules = ScheduleRows({}, {}, {}, {})
        self._shared: dict[tuple[str, int, tuple[Any, ...]], Schedule] = {}
        self.marker: datetime | None = None
        self.since: datetime | None = None
        self._full_at = 0.0
        self._recheck_until = 0.0
        self._failures = 0
        self._writing = False
        self.overlaid = overlaid
        """Names the app's beat_schedule will write at start (``--check`` shows the app's)."""

    # -- the Source interface ------------------------------------------------------------
    def load(self) -> list[Entry]:
        changes = self._read(full=True)
        log.info("database: %d rows, %d entries, %d bad", len(self.rows),
                 len(changes.upserts), len(self.bad))  # fmt: skip
        return list(changes.upserts)

    def poll(self) -> Changes:
        from django.db import DatabaseError, InterfaceError, connections

        full = time.monotonic() - self._full_at >= self.full_read_every_s
        try:
            changes = self._read(full=full)
        except (DatabaseError, InterfaceError) as exc:
            self._failures += 1
            self.metrics.database_errors.labels("read").inc()
            if self._failures == 1 or self._failures % 60 == 0:
                log.warning("database unreadable (%d tries), the entries stay as last read: %s",
                            self._failures, exc)  # fmt: skip
            connections[self.reader.alias].close()
            return Changes()
        if self._failures:
            log.info("database readable again after %d tries", self._failures)
            self._failures = 0
        return changes

    def fired(self, entry: Entry, tick: datetime, published: datetime) -> None:
        if entry.row_id is not None:
            if not self._writing:
                self.writer.start()
                self._writing = True
            self.writer.record(entry.row_id, published, one_off=entry.one_off)

    def reject(self, entry: Entry, field_name: str, message: str) -> None:
        """Another source took the name: the row is bad until it changes or a full read."""
        if entry.row_id is None:
            return
        state = self.rows.get(entry.row_id)
        if state is not None:
            state.fingerprint, state.entry = 0, None
        row = _RowName(entry.row_id, entry.name)
        self._mark_bad(BadRow(row, field_name, message))  # type: ignore[arg-type]

    def close(self) -> None:
        if self._writing:
            self.writer.stop()

    # -- reading -------------------------------------------------------------------------
    def _read(self, *, full: bool) -> Changes:
        marker = self.reader.marker()
        now = time.monotonic()
        if marker != self.marker:
            self._recheck_until = now + RECHECK_S
        elif not full and now > self._recheck_until:
            return Changes()
        self.marker = marker
        old = self.schedules
        self.schedules = self.reader.schedules()
        if full:
            self._full_at = time.monotonic()
            rows = self.reader.tasks()
            gone = set(self.rows) - {r.id for r in rows}
        else:
            rows = self._changed_rows(old)
            gone = set()
            known = set(self.rows) | {r.id for r in rows}
            if self.reader.count() != len(known):
                gone = set(self.rows) - self.reader.ids()
        return self._apply(rows, gone, full=full)

    def _changed_rows(self, old: ScheduleRows) -> list[TaskRow]:
        rows: dict[int, TaskRow] = {}
        if self.since is not None:
            rows.update((r.id, r) for r in self.reader.changed_since(self.since - SAVE_MARGIN))
        for kind in KINDS:
            before, now = getattr(old, kind), getattr(self.schedules, kind)
            moved = {i for i in set(before) | set(now) if before.get(i) != now.get(i)}
            if moved:
                rows.update((r.id, r) for r in self.reader.using_schedules(kind, moved))
        return list(rows.values())

    def _apply(self, rows: Iterable[TaskRow], gone: set[int], *, full: bool) -> Changes:
        upserts: list[Entry] = []
        removals: list[str] = []
        for row in rows:
            if row.date_changed is not None and (
                self.since is None or row.date_changed > self.since
            ):
                self.since = row.date_changed
            fingerprint = hash((row.definition(), self._schedule_values(row)))
            state = self.rows.get(row.id)
            if state is not None and state.fingerprint == fingerprint:
                continue
            entry = self._entry(row)
            if (
                state is not None
                and state.entry is not None
                and (entry is None or entry.name != state.entry)
            ):
                removals.append(state.entry)
            if entry is not None:
                upserts.append(entry)
            self.rows[row.id] = RowState(fingerprint, entry.name if entry else None)
        for row_id in gone:
            state = self.rows.pop(row_id)
            self.bad.pop(row_id, None)
            if state.entry is not None:
                removals.append(state.entry)
        self.metrics.bad_rows.set(len(self.bad))
        if upserts or removals:
            log.info("database: %d entries added or changed, %d removed%s", len(upserts),
                     len(removals), " (full read)" if full else "")  # fmt: skip
        return Changes(upserts, removals)

    def _schedule_values(self, row: TaskRow) -> tuple[Any, ...] | None:
        for kind in KINDS:
            schedule_id = getattr(row, f"{kind}_id")
            if schedule_id is not None:
                return self.schedules.get(kind, schedule_id)
        return None

    def _schedule(self, kind: str, schedule_id: int, values: tuple[Any, ...],
                  anchor: datetime) -> Schedule:  # fmt: skip
        """One schedule object per crontab or solar row, shared by the rows that use it."""
        if kind in ("interval", "clocked"):
            return parse_schedule(kind, values, anchor=anchor)
        key = (kind, schedule_id, values)
        found = self._shared.get(key)
        if found is None:
            found = self._shared[key] = parse_schedule(kind, values, anchor=anchor)
        return found

    def _entry(self, row: TaskRow) -> Entry | None:
        self.bad.pop(row.id, None)
        if not row.enabled or row.name in self.overlaid:
            return None
        try:
            entry = parse_row(row, self.schedules, app=self.app, app_zone=self.app_zone,
                              schedule_of=self._schedule)  # fmt: skip
        except BadRow as exc:
            self._mark_bad(exc)
            return None
        other = self.reserved.get(entry.name)
        if other is not None:
            self._mark_bad(BadRow(row, "name", f"is also {other}"))
            return None
        return entry

    def _mark_bad(self, bad: BadRow) -> None:
        self.bad[bad.row_id] = bad
        self.metrics.bad_rows_total.labels(bad.field.split(".")[0]).inc()
        self.metrics.bad_rows.set(len(self.bad))
        log.error("%s; skipped until the row changes", bad)


@dataclass(frozen=True)
class _RowName:
    """Enough of a row to name it in a :class:`BadRow`."""

    id: int
    name: str
