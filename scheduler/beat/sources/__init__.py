"""Where entries come from, behind one small interface.

A :class:`Source` loads its entries once at start (a bad file or app stops the beat there with
one line) and is then polled by the beat's watcher thread for :class:`Changes`: the entries
added or changed, and the names removed. ``fired`` tells the source that this replica
published a tick (the database source writes ``last_run_at`` back). Three sources exist:

* :mod:`.file`: the schedules file (``--schedules``);
* :mod:`.app`: the app's ``beat_schedule`` (``--app``);
* :mod:`.database`: django-celery-beat's tables, when the app's ``beat_scheduler`` is its
  ``DatabaseScheduler`` (the ``beat_schedule`` is then synced into the table, as
  django-celery-beat does, and read from there).

:mod:`.catalog` merges them: a name belongs to one source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from scheduler.beat.spec import Entry


@dataclass(frozen=True)
class Changes:
    upserts: Sequence[Entry] = ()
    """Entries new or changed since the last poll."""
    removals: Sequence[str] = field(default_factory=tuple)
    """Names no longer defined (or disabled, or now bad)."""

    def __bool__(self) -> bool:
        return bool(self.upserts or self.removals)


class Source(Protocol):
    kind: str
    """``file``, ``app`` or ``database``: the ``source`` label of the metrics."""

    def load(self) -> list[Entry]:
        """Every entry, once at start; raises ``SpecError`` (one line) when unusable."""
        ...

    def poll(self) -> Changes:
        """What changed since the last load or poll (called from the watcher thread)."""
        ...

    def fired(self, entry: Entry, tick: datetime, published: datetime) -> None:
        """This replica published ``tick`` of ``entry`` (called from the loop; must not block)."""
        ...

    def reject(self, entry: Entry, field_name: str, message: str) -> None:
        """``entry`` cannot be used (its name belongs to another source): say so, once."""
        ...

    def close(self) -> None: ...
