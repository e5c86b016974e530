"""All sources of one beat, merged: each name belongs to one source.

At start, a name in the schedules file and in the app's ``beat_schedule`` stops the beat with
one line naming both places. A database row whose name the file or the app uses is a bad row
(skipped, logged, counted). Later, the earlier source keeps a name: a database row added under
a file entry's name is skipped; a file reload that adds the name of a database row takes it
(the row is skipped from then on, until it changes).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from scheduler.beat.sources import Changes, Source
from scheduler.beat.sources.database import DatabaseSource
from scheduler.beat.spec import Entry, SpecError

log = logging.getLogger("shoal.beat")
PRECEDENCE = ("file", "app", "database")


class Catalog:
    def __init__(self, sources: Sequence[Source]) -> None:
        self.sources = sorted(sources, key=lambda s: PRECEDENCE.index(s.kind))
        self.by_kind = {s.kind: s for s in self.sources}
        self.owner: dict[str, Entry] = {}

    def _reserve(self) -> None:
        db = self.by_kind.get("database")
        if isinstance(db, DatabaseSource):
            db.reserved = {n: e.where for n, e in self.owner.items() if e.source != "database"}

    def load(self) -> list[Entry]:
        """Every source's entries; :class:`SpecError` for a name in the file and the app."""
        for source in self.sources:
            self._reserve()
            for entry in source.load():
                other = self.owner.get(entry.name)
                if other is not None:
                    raise SpecError(entry.where, "name", f"is also {other.where}")
                self.owner[entry.name] = entry
        return list(self.owner.values())

    def poll(self) -> Changes:
        """Every source's changes since the last poll, with the names settled."""
        upserts: dict[str, Entry] = {}
        removals: set[str] = set()
        for source in self.sources:
            self._reserve()
            changes = source.poll()
            for name in changes.removals:
                owner = self.owner.get(name)
                if owner is not None and owner.source == source.kind:
                    del self.owner[name]
                    upserts.pop(name, None)
                    removals.add(name)
            for entry in changes.upserts:
                owner = self.owner.get(entry.name)
                if owner is not None and owner.source != entry.source:
                    if PRECEDENCE.index(owner.source) < PRECEDENCE.index(entry.source):
                        source.reject(entry, "name", f"is also {owner.where}")
                        continue
                    self.by_kind[owner.source].reject(owner, "name", f"is also {entry.where}")
                self.owner[entry.name] = entry
                upserts[entry.name] = entry
                removals.discard(entry.name)
        return Changes(list(upserts.values()), sorted(removals))

    def fired(self, entry: Entry, tick: datetime, published: datetime) -> None:
        self.by_kind[entry.source].fired(entry, tick, published)

    def close(self) -> None:
        for source in self.sources:
            try:
                source.close()
            except Exception:  # stopping: one source's failure must not keep the others open
                log.exception("closing the %s source failed", source.kind)
