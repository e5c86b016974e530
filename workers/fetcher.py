"""Reliable fetch: a consuming channel takes messages into its process's held record in one
atomic step, and never BRPOPs.

Each tick of the event loop (:mod:`workers.poller`) the channel, when it has room or owes
operations, sends ``fetch.lua`` on its fetch slot: the operations it owes (acknowledge, give
back, park), then up to as many messages as it has room for, from its queues' lists by priority
(9 first) and in turn across queues; they land in the held record and the reply delivers them.
A task whose ETA is further away than the park threshold is not delivered: it is parked in its
queue's delayed set (:mod:`contract.delayed`) by the next fetch. When a fetch finds the lists
empty, the channel waits with one ``BLMOVE <list> <staging>`` per list (a slot each): the first
message to arrive moves into the record's staging list atomically and wakes the channel, whose
next fetch takes it (and puts back what it has no room for). Idle, a channel sends one fetch and
one ``BLMOVE`` per list every :data:`~contract.held.BLOCK_TIMEOUT_S`.

The reply of a fetch that never comes (a lost connection, Redis restarting) is settled safely:
the operations it carried are owed again, and the sequence numbers it reserved are given back
(now and once more later, in case it ran late); each applies only to what is still held.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any, NamedTuple

from kombu.utils import encoding as _encoding
from kombu.utils import json as _json
from redis.exceptions import ResponseError

from contract import delayed, keys, scripts
from contract import fetch as fetching
from contract.held import BLOCK_TIMEOUT_S, LIVENESS_TIMEOUT_S, beat_interval_s
from workers import flusher, keeper, native
from workers import holding as holding_mod
from workers.holding import Holding, Location, Owed, as_op
from workers.slots import Slot

log = logging.getLogger("shoal.delivery")

# kombu's own JSON (its types) and text conversion, as its BRPOP path reads a message.
loads: Any = _json.loads
dumps: Any = _json.dumps
bytes_to_str: Any = _encoding.bytes_to_str

MAX_BATCH = 200
"""Messages taken by one fetch at most."""
PARK_BOOST_MAX = 200
"""After a fetch parked tasks, the next one takes this many more at most (to park them fast)."""
FETCH_REPLY_LIMIT_S = 30.0
MIN_REDIS = (6, 2)
"""BLMOVE and RPOP with a count."""


class Pending(NamedTuple):
    """What an outstanding fetch carries and reserved."""

    layout: fetching.Layout
    owed: list[Owed]
    want: int
    first_seq: int
    room: int
    incarnation: str


def eta_ms(payload: Any) -> int | None:
    """A protocol-2 message's ETA in epoch ms (None: none, naive or unreadable)."""
    try:
        raw = payload["headers"].get("eta")
    except (KeyError, TypeError, AttributeError):
        return None
    if not isinstance(raw, str):
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None  # the app's own time zone decides; Celery handles it in memory
    return int(when.timestamp() * 1000)


class ReliableFetch:
    """Mixin for kombu's Redis ``Channel`` (see the module docstring)."""

    shoal_worker_id: str | None = None
    shoal_liveness_timeout_s: float = LIVENESS_TIMEOUT_S
    shoal_park_threshold_s: float = 10.0

    # Provided by kombu's Channel.
    active_queues: list[str]
    priority_steps: list[int]
    handlers: dict[str, Any]
    connection: Any
    connection_errors: tuple[type[BaseException], ...]
    qos: Any
    _queue_cycle: Any
    global_keyprefix: str
    health_check_interval: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        if self.global_keyprefix:
            raise ValueError("shoal's reliable fetch does not support global_keyprefix")
        self._fetch = Slot(self, "fetch")
        self.handlers[self._fetch.type] = self._on_fetch_reply
        self._blocks: dict[str, Slot] = {}
        self._drained = False
        self._staged = False
        self._boost = 0
        self._fetched_at = 0.0
        self._holding: Holding | None = None

    # -- the process's holding ----------------------------------------------------------------
    @property
    def holding(self) -> Holding:
        if self._holding is None:
            self._holding = holding_mod.for_process(self._new_holding)
            keeper.ensure_started(
                self._holding,
                pool_factory=keeper.pool_factory(self),
                interval_s=beat_interval_s(self.shoal_liveness_timeout_s),
            )
            if native.is_green() and self._holding.flush_soon is None:
                flusher.start(self._holding, self._create_client)  # type: ignore[attr-defined]
        return self._holding

    def _new_holding(self) -> Holding:
        import socket

        return Holding(
            worker_id=self.shoal_worker_id or socket.gethostname(),
            ttl_ms=int(self.shoal_liveness_timeout_s * 1000),
            park_threshold_ms=int(self.shoal_park_threshold_s * 1000),
        )

    # -- each tick ----------------------------------------------------------------------------
    def shoal_poll_start(self, poller: Any) -> None:
        if not self.active_queues:
            self._settle_only(poller)
            return
        holding = self.holding
        holding.wake = poller.waker
        if self._fetch.busy:
            return
        room = self._room()
        want = min(room, MAX_BATCH) + self._boost
        if holding.owed or self._staged or (want > 0 and not self._drained):
            self._send_fetch(poller, want, room)
        elif self._drained and room > 0:
            self._arm_blocks(poller)

    def _settle_only(self, poller: Any) -> None:
        """No queue consumed (cancelled for a drain, or a control channel): only send what the
        process owes, without creating anything."""
        holding = holding_mod.current()
        if holding is None or not holding.owed or self._fetch.busy or not holding.joined:
            return
        self._holding = holding
        holding.wake = poller.waker
        self._send_fetch(poller, 0, 0)

    def _room(self) -> int:
        estimate = self.qos.can_consume_max_estimate()
        return MAX_BATCH if estimate is None else max(int(estimate), 0)

    def _layout(self) -> fetching.Layout:
        holding = self.holding
        queues = self._queue_cycle.consume(len(self.active_queues))
        records, seen = [], set()
        for step in self.priority_steps:  # the highest step first (workers.transport)
            for queue in queues:
                name = self._q_for_pri(queue, step)  # type: ignore[attr-defined]
                if name not in seen:
                    seen.add(name)
                    records.extend(holding.records(queue, [name]))
        idle = tuple(r for name, r in holding.lists.items() if name not in seen)
        return fetching.Layout(tuple(records), idle)

    def _send_fetch(self, poller: Any, want: int, room: int) -> None:
        holding = self.holding
        layout = self._layout()
        if not holding.joined or holding.unregistered(layout.lists):
            with self.conn_or_acquire() as client:  # type: ignore[attr-defined]
                check_redis_version(client)
                holding.register(client, layout.lists)
        owed = holding.take_owed()
        first = holding.take_seq(want)
        args = layout.args(
            holding.incarnation,
            ttl_ms=holding.ttl_ms,
            want=want,
            first_seq=first,
            ops=[as_op(o) for o in owed],
        )
        script_keys = layout.keys()
        pending = Pending(layout, owed, want, first, room, holding.incarnation)
        self._staged = False
        self._fetched_at = time.monotonic()
        try:
            self._fetch.send(
                poller, pending, "EVALSHA", scripts.sha("fetch"), len(script_keys),
                *script_keys, *args,
            )  # fmt: skip
        except BaseException:
            self._lost(pending)
            raise

    def _arm_blocks(self, poller: Any) -> None:
        for record in self._layout().lists:
            slot = self._blocks.get(record.list_name)
            if slot is None:
                slot = self._blocks[record.list_name] = Slot(self, "block:" + record.list_name)
                self.handlers[slot.type] = self._block_reader(slot)
            if not slot.busy:
                slot.send(
                    poller, record, "BLMOVE", record.list_name, record.staging_key,
                    "RIGHT", "LEFT", BLOCK_TIMEOUT_S,
                )  # fmt: skip

    def _block_reader(self, slot: Slot) -> Any:
        def read() -> bool:
            moved = slot.read()
            slot.pending = None
            if moved is not None:  # a message arrived: take it (and whatever else waits)
                self._staged = True
                self._drained = False
            elif time.monotonic() - self._fetched_at >= BLOCK_TIMEOUT_S:
                self._drained = False  # look once a wait, also to learn of being fenced
            return True

        return read

    # -- replies ------------------------------------------------------------------------------
    def _on_fetch_reply(self) -> bool:
        pending: Pending = self._fetch.pending
        try:
            reply = self._fetch.read()
        except ResponseError as exc:
            self._fetch.pending = None
            if not scripts.is_noscript(exc):
                self._lost(pending)
                raise
            self.holding.return_owed(pending.owed)  # the script did not run
            with self.conn_or_acquire() as client:  # type: ignore[attr-defined]
                client.script_load(scripts.source("fetch"))
            self._drained = False
            return True
        except BaseException:
            self._fetch.pending = None
            self._lost(pending)
            raise
        self._fetch.pending = None
        parsed = fetching.parse(reply)
        if parsed.fenced:
            self.holding.rejoin(only=pending.incarnation)
            self._drained = False
            return True
        self._take_in(pending, parsed)
        self._drained = pending.want > 0 and len(parsed.taken) < pending.want
        return True

    def _take_in(self, pending: Pending, reply: fetching.Reply) -> None:
        holding = self.holding
        delivered = parked = 0
        excess: list[Location] = []
        locations = [self._location(pending, t) for t in reply.taken]
        done = 0
        try:
            for loc in locations:
                outcome = self._take_in_one(loc, reply.now_ms, over=delivered >= pending.room)
                done += 1
                if outcome == "delivered":
                    delivered += 1
                elif outcome == "parked":
                    parked += 1
                elif outcome == "excess":
                    excess.append(loc)
        finally:
            for loc in locations[done + 1 :]:  # a delivery raised: the rest goes back
                holding.give_back(loc)
            for loc in reversed(excess):  # the first taken ends at the very front
                holding.give_back(loc)
        self._boost = min(PARK_BOOST_MAX, 2 * parked)

    @staticmethod
    def _location(pending: Pending, taken: fetching.Taken) -> Location:
        record = pending.layout.lists[taken.slot - 1]
        return Location(
            pending.incarnation, record.list_name, record.queue, record.held_key,
            taken.seq, taken.raw,
        )  # fmt: skip

    def _take_in_one(self, loc: Location, now_ms: int, *, over: bool) -> str:
        holding = self.holding
        try:
            payload = loads(bytes_to_str(loc.raw))
        except ValueError:
            log.error("not a kombu message in %r, dropped: %r", loc.list_name, loc.raw[:200])
            holding.ack(loc)
            return "dropped"
        due = eta_ms(payload)
        if due is not None and due - now_ms > holding.park_threshold_ms:
            member = delayed.member(loc.list_name, loc.raw)
            holding.park(loc, delayed_key=keys.delayed(loc.queue), due_ms=due, member=member)
            return "parked"
        if over:
            return "excess"
        if loc.queue not in self.connection._callbacks:
            holding.give_back(loc)  # the queue was cancelled meanwhile
            return "returned"
        self.qos.locations[payload["properties"]["delivery_tag"]] = loc
        self._queue_cycle.rotate(loc.queue)
        self.connection._deliver(payload, loc.queue)
        return "delivered"

    # -- failures -----------------------------------------------------------------------------
    def _lost(self, pending: Pending | None) -> None:
        """A fetch whose reply will not come: owe its operations again, give back what it
        may have taken (now, and again later in case Redis ran it late)."""
        if pending is None:
            return
        holding = self.holding
        holding.return_owed(pending.owed)
        back = [
            Owed("g", record.held_key, seq, record.list_name)
            for seq in reversed(range(pending.first_seq, pending.first_seq + pending.want))
            for record in pending.layout.lists
        ]
        for op in back:
            holding.owe(op)
        holding.owe_later(back)

    def shoal_check_health(self) -> None:
        """Drop a connection whose reply is long overdue (a half-open socket never wakes)."""
        interval = self.health_check_interval or 0
        if self._fetch.overdue(max(FETCH_REPLY_LIMIT_S, interval)):
            log.warning("the fetch got no reply for %.0f s: reconnecting", FETCH_REPLY_LIMIT_S)
            pending, self._fetch.pending = self._fetch.pending, None
            self._fetch.disconnect()
            self._lost(pending)
        if interval:
            for slot in self._blocks.values():
                if slot.overdue(BLOCK_TIMEOUT_S + interval):
                    slot.disconnect()

    def _poll_error(self, type_: str, **options: Any) -> Any:
        handler = self.handlers.get(type_)
        if type_.startswith("shoal-") and handler is not None:
            return handler()
        return super()._poll_error(type_, **options)  # type: ignore[misc]

    def close(self) -> None:
        """Settle an outstanding fetch (its messages go back), then close as kombu does."""
        pending, self._fetch.pending = self._fetch.pending, None
        if pending is not None:
            self._settle_at_close(pending)
        for slot in (self._fetch, *self._blocks.values()):
            slot.close()
        super().close()  # type: ignore[misc]

    def _settle_at_close(self, pending: Pending) -> None:
        conn = self._fetch.client.connection if self._fetch.client else None
        try:
            if conn is not None and conn.can_read(timeout=2.0):
                parsed = fetching.parse(self._fetch.read())
                for t in parsed.taken:  # taken, never delivered: back to the front
                    self.holding.give_back(self._location(pending, t))
                return
        except Exception:
            log.debug("the last fetch's reply could not be read at close", exc_info=True)
        self._lost(pending)


def check_redis_version(client: Any) -> None:
    version = str(client.info("server").get("redis_version", "0"))
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts < MIN_REDIS:
        raise RuntimeError(
            f"shoal's reliable fetch needs Redis {'.'.join(map(str, MIN_REDIS))} or later "
            f"(BLMOVE, RPOP with a count); this Redis is {version}"
        )
