"""What this worker process holds, and what it still owes Redis about it.

One :class:`Holding` per worker process (:func:`for_process`), shared by every channel the
consumer opens (a reconnect opens a new one) and by the keeper thread (:mod:`workers.keeper`).
It names the process's incarnation and its record in Redis (:mod:`contract.held`), numbers the
messages it takes, and queues the operations it owes: acknowledge, give back, park. Operations
are idempotent in ``fetch.lua`` (each applies only while the message is still in the record),
so the consumer and the keeper may both send them, in any order, as often as a lost reply
demands: one is never lost while the worker runs. An operation goes out with the consumer's next
fetch (one round trip for both), or with the keeper's next beat when the consumer is away.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from contract import held, scripts
from contract.fetch import Ack, GiveBack, Layout, Park
from workers import native

log = logging.getLogger("shoal.delivery")

OPS_PER_CALL = 500
"""Operations sent in one fetch (a few ms of Redis time at most)."""
RETRY_LATER_S = 30.0
"""Give-backs of a lost fetch are owed once more this much later (it may have run late)."""


class Location(NamedTuple):
    """Where one delivered message is in this process's record."""

    incarnation: str
    list_name: str
    queue: str
    held_key: str
    seq: int
    raw: bytes


class Owed(NamedTuple):
    """An operation with the keys it touches, before a fetch layout gives it list positions."""

    kind: str
    held_key: str
    seq: int
    list_name: str
    raw: bytes = b""
    delayed_key: str = ""
    due_ms: int = 0


@dataclass
class Holding:
    """The process's incarnation, its record's lists, its sequence numbers and its debts."""

    worker_id: str
    ttl_ms: int
    park_threshold_ms: int
    incarnation: str = ""
    pid: int = field(default_factory=os.getpid)
    seq: int = 1
    joined: bool = False
    lists: dict[str, held.ListRecord] = field(default_factory=dict)
    """Every list this incarnation's record names: list name -> its keys."""
    owed: collections.deque[Owed] = field(default_factory=collections.deque)
    later: list[tuple[float, list[Owed]]] = field(default_factory=list)
    wake: Callable[[], None] | None = None
    """Set by a consumer that waits in a poll: called when an operation is queued."""
    flush_soon: Callable[[], None] | None = None
    """Under gevent: wakes the greenlet that sends what is owed at once (workers.flusher)."""
    lock: Any = field(default_factory=native.lock)

    def __post_init__(self) -> None:
        if not self.incarnation:
            self.incarnation = held.new_incarnation(self.worker_id, pid=self.pid)

    # -- the record ---------------------------------------------------------------------------
    def records(self, queue: str, list_names: Iterable[str]) -> list[held.ListRecord]:
        """This incarnation's records of ``list_names`` (lists of ``queue``)."""
        out = []
        for name in list_names:
            record = self.lists.get(name)
            if record is None:
                record = held.ListRecord.of(self.incarnation, queue, name)
            out.append(record)
        return out

    def unregistered(self, records: Iterable[held.ListRecord]) -> list[held.ListRecord]:
        return [r for r in records if r.list_name not in self.lists]

    def register(self, client: Any, records: Iterable[held.ListRecord]) -> None:
        """Name ``records`` in Redis before anything is taken from their lists."""
        new = self.unregistered(records)
        if not self.joined:
            held.join(
                client,
                self.incarnation,
                ttl_ms=self.ttl_ms,
                lists=new,
                extra={"worker_id": self.worker_id, "pid": str(self.pid)},
            )
            self.joined = True
        elif new:
            held.add_lists(client, self.incarnation, new)
        for record in new:
            self.lists[record.list_name] = record

    def rejoin(self, *, only: str | None = None) -> None:
        """Declared dead (no heartbeat for a liveness timeout): carry on as a new incarnation
        (``only``: unless this already happened since that incarnation was in use).

        What the old one held went back to the queues with its recovery; its late
        acknowledgements change nothing (the script finds nothing to settle)."""
        with self.lock:
            if only is not None and only != self.incarnation:
                return
            old = self.incarnation
            self.incarnation = held.new_incarnation(self.worker_id, pid=self.pid)
            self.lists = {}
            self.joined = False
        log.warning(
            "this worker was declared dead (no heartbeat for %.0f s): the tasks it held went back "
            "to their queues and may run twice; carrying on as %s (was %s)",
            self.ttl_ms / 1000,
            self.incarnation,
            old,
        )

    def take_seq(self, count: int) -> int:
        first = self.seq
        self.seq += count
        return first

    # -- what is owed -------------------------------------------------------------------------
    def owe(self, op: Owed, *, wake: bool = True) -> None:
        """Queue ``op``; ``wake``: tell the consumer (not from the keeper's thread, which sends
        what it owes itself)."""
        self.owed.append(op)
        if not wake:
            return
        if self.flush_soon is not None:
            self.flush_soon()
        if self.wake is not None:
            self.wake()

    def ack(self, loc: Location) -> None:
        self.owe(Owed("a", loc.held_key, loc.seq, loc.list_name))

    def give_back(self, loc: Location, raw: bytes = b"") -> None:
        """To the front of its list; ``raw`` replaces the message (b"": as it was taken)."""
        self.owe(Owed("g", loc.held_key, loc.seq, loc.list_name, raw))

    def park(self, loc: Location, *, delayed_key: str, due_ms: int, member: bytes) -> None:
        self.owe(Owed("p", loc.held_key, loc.seq, loc.list_name, member, delayed_key, due_ms))

    def owe_later(self, ops: list[Owed], *, delay_s: float = RETRY_LATER_S) -> None:
        with self.lock:
            self.later.append((time.monotonic() + delay_s, list(ops)))

    def owe_due(self) -> None:
        """Owe now what was put off and is due (the keeper calls it every beat)."""
        now = time.monotonic()
        with self.lock:
            due = [ops for at, ops in self.later if at <= now]
            self.later = [(at, ops) for at, ops in self.later if at > now]
        for ops in due:
            for op in ops:
                self.owe(op, wake=False)

    def take_owed(self, limit: int = OPS_PER_CALL) -> list[Owed]:
        batch: list[Owed] = []
        while self.owed and len(batch) < limit:
            try:
                batch.append(self.owed.popleft())
            except IndexError:
                break
        return batch

    def return_owed(self, batch: list[Owed]) -> None:
        """A batch whose reply was lost: owed again (applying one twice changes nothing)."""
        self.owed.extendleft(reversed(batch))


def send_owed(client: Any, holding: Holding) -> None:
    """Send everything ``holding`` owes (no list to take from), one batch per call; a batch
    whose reply is lost is owed again."""
    layout = Layout(())
    while holding.owed:
        batch = holding.take_owed()
        args = layout.args(
            holding.incarnation,
            ttl_ms=holding.ttl_ms,
            want=0,
            first_seq=0,
            ops=[as_op(o) for o in batch],
        )
        try:
            scripts.run(client, "fetch", layout.keys(), args)
        except BaseException:
            holding.return_owed(batch)
            raise


def as_op(owed: Owed) -> Ack | GiveBack | Park:
    """The script operation for an owed one (held key, sequence number, list, message)."""
    if owed.kind == "a":
        return Ack(owed.held_key, owed.seq)
    if owed.kind == "g":
        return GiveBack(owed.held_key, owed.seq, owed.list_name, owed.raw)
    return Park(owed.held_key, owed.seq, owed.delayed_key, owed.due_ms, owed.raw)


_current: list[Holding] = []
_create_lock = native.lock()


def for_process(factory: Callable[[], Holding]) -> Holding:
    """This process's holding, made by ``factory`` the first time (a forked child makes its
    own: a pool process never consumes, so it never does)."""
    with _create_lock:
        if not _current or _current[0].pid != os.getpid():
            _current[:] = [factory()]
        return _current[0]


def current() -> Holding | None:
    """This process's holding, if a consuming channel made one."""
    if _current and _current[0].pid == os.getpid():
        return _current[0]
    return None
