"""The beat's in-memory schedule: each entry's next due instant in a heap. No I/O.

A replica does work only for what is due: the heap's top says when the next tick is, a pass
pops the due entries and nothing else is looked at. Entries due within a few seconds are taken
off the heap early into a second heap of :class:`Ready` items, their messages built ahead, so
that when a burst of ticks comes only the publish instant is left to fill in.

An entry's newest claimed tick (``last``) is read from Redis only when the entry is new or
changed, or when the replica starts to lead (:meth:`Table.unsynced`); after that the
replica's own claims keep it. Claims are fenced in Redis, so a stale ``last`` costs at most a
refused claim, never a second publish.

Many entries share a schedule (the same crontab in the same zone): :meth:`Table.next_fire`
remembers the next tick per (schedule, window, instant) within a pass.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable
from datetime import datetime

from scheduler.beat.schedules import Schedule, Window, next_fire
from scheduler.beat.spec import Entry


class Slot:
    """One entry's place in the table."""

    __slots__ = ("due", "entry", "last", "template", "version")

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.last: datetime | None = None
        """The newest tick known to be claimed (None: not read from Redis yet)."""
        self.due: datetime | None = None
        """The next tick (or condition check) after ``last``; None: none left."""
        self.version = 0
        self.template: object = None
        """The entry's compiled message (:mod:`scheduler.beat.template`), once it fired."""


class Ready:
    """A slot taken off the heap shortly before its tick, its message built ahead."""

    __slots__ = ("fast_until_ts", "next_due", "next_due_ts", "prepared", "slot", "tick_ts",
                 "version")  # fmt: skip

    def __init__(
        self, slot: Slot, tick_ts: float, next_due: datetime | None, prepared: object,
        fast_until_ts: float,
    ) -> None:  # fmt: skip
        self.slot, self.tick_ts, self.version = slot, tick_ts, slot.version
        self.next_due = next_due
        """The tick after this one (None: none)."""
        self.next_due_ts = math.inf if next_due is None else next_due.timestamp()
        self.prepared = prepared
        """The message built ahead (:class:`scheduler.beat.template.Prepared`), or None."""
        self.fast_until_ts = fast_until_ts
        """Until then the tick fires as built, whatever the catch-up policy (it is on time)."""


class Table:
    def __init__(self) -> None:
        self.slots: dict[str, Slot] = {}
        self._ready: list[tuple[float, int, Ready]] = []
        self._heap: list[tuple[float, int, str, int]] = []
        self._seq = itertools.count()
        self._unsynced: set[str] = set()
        self._memo: dict[tuple[Schedule, Window, datetime], datetime | None] = {}

    def __len__(self) -> int:
        return len(self.slots)

    # -- entries -------------------------------------------------------------------------
    def upsert(self, entry: Entry) -> None:
        """A new or changed entry: its state is read again before it is next due."""
        slot = self.slots.get(entry.name)
        if slot is None:
            slot = self.slots[entry.name] = Slot(entry)
        else:
            slot.entry, slot.last, slot.due, slot.template = entry, None, None, None
            slot.version += 1  # its heap items are stale now
        self._unsynced.add(entry.name)

    def remove(self, name: str) -> None:
        if self.slots.pop(name, None) is not None:
            self._unsynced.discard(name)

    def unsync_all(self) -> None:
        """Read every entry's state again (this replica starts to lead)."""
        for slot in self.slots.values():
            slot.last, slot.due = None, None
            slot.version += 1
        self._unsynced = set(self.slots)
        self._heap = []
        self._ready = []

    def unsynced(self) -> list[Slot]:
        out = [self.slots[n] for n in sorted(self._unsynced) if n in self.slots]
        self._unsynced.clear()
        return out

    # -- due times -----------------------------------------------------------------------
    def next_fire(self, schedule: Schedule, after: datetime, window: Window) -> datetime | None:
        key = (schedule, window, after)
        try:
            return self._memo[key]
        except KeyError:
            pass
        if len(self._memo) > 100_000:
            self._memo.clear()
        found = self._memo[key] = next_fire(schedule, after, window)
        return found

    def forget_memo(self) -> None:
        self._memo.clear()

    def schedule(self, slot: Slot, due: datetime | None) -> None:
        """Set the slot's next due instant (None: nothing left to do)."""
        slot.due = due
        slot.version += 1
        if due is not None:
            item = (due.timestamp(), next(self._seq), slot.entry.name, slot.version)
            heapq.heappush(self._heap, item)

    def next_due_ts(self) -> float | None:
        """The epoch seconds of the earliest due slot (stale heap items dropped)."""
        heap = self._heap
        while heap:
            _, _, name, version = heap[0]
            slot = self.slots.get(name)
            if slot is not None and slot.version == version:
                return heap[0][0]
            heapq.heappop(heap)
        return None

    def pop_due(self, now_ts: float, limit: int) -> list[Slot]:
        """Up to ``limit`` slots due at ``now_ts``, earliest first."""
        out: list[Slot] = []
        heap = self._heap
        while heap and len(out) < limit and heap[0][0] <= now_ts:
            _, _, name, version = heapq.heappop(heap)
            slot = self.slots.get(name)
            if slot is not None and slot.version == version:
                out.append(slot)
        return out

    # -- built ahead -----------------------------------------------------------------------
    def add_ready(self, item: Ready) -> None:
        heapq.heappush(self._ready, (item.tick_ts, next(self._seq), item))

    def next_ready_ts(self) -> float | None:
        return self._ready[0][0] if self._ready else None

    def take_ready(self, now_ts: float, limit: int) -> list[Ready]:
        """Up to ``limit`` items whose tick has come, earliest first; stale ones dropped (the
        entry changed or left since it was taken off the heap)."""
        out: list[Ready] = []
        ready = self._ready
        while ready and len(out) < limit and ready[0][0] <= now_ts:
            item = heapq.heappop(ready)[2]
            slot = item.slot
            if self.slots.get(slot.entry.name) is slot and slot.version == item.version:
                out.append(item)
        return out

    def entries(self) -> Iterable[Entry]:
        return (slot.entry for slot in self.slots.values())
