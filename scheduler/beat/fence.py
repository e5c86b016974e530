"""The tick fence: one Lua script (``fence.lua``) claims (entry, tick) pairs and pushes their
messages, atomically.

Each entry's state is a Redis hash ``shoal:beat:entry:<name>`` holding ``last_tick_ms`` (the
newest tick claimed), ``next_due_ms``, ``run_count``, ``last_run_ms``, ``refused`` and, for
``when`` entries, the last ``condition`` value. The script fires a tick only if it is newer than
``last_tick_ms`` (compare-and-set) and, in the same step, LPUSHes the messages. Two replicas
that both think they lead therefore publish each tick exactly once, and a tick is never
claimed without its messages being queued (or the other way round). A burst of claims goes
in one round trip, :data:`CLAIMS_PER_SCRIPT` per script call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from importlib import resources
from typing import Any, NamedTuple

import hiredis
import redis
import redis.exceptions

from contract.keys import beat_entry as entry_key
from scheduler.beat.message import Outgoing


def to_ms(instant: datetime) -> int:
    return round(instant.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


FENCE_LUA = (resources.files("scheduler.beat") / "fence.lua").read_text(encoding="utf-8")
CLAIMS_PER_SCRIPT = 500
"""Claims per script call, so no one call holds Redis for long; a burst of claims is sent as
several calls in one round trip."""
STATE_READS_PER_ROUND_TRIP = 5000


class Claim(NamedTuple):
    """One (entry, tick) to claim, with the messages to push if it fires."""

    name: str
    tick_ms: int
    now_ms: int
    next_due_ms: int | None
    messages: Sequence[Outgoing] = ()
    mode: str = "fire"
    """fire | skip | cond0 | cond1 (a condition's value at this check)."""
    token: int = 0


class Outcome(StrEnum):
    FIRED = "fired"
    """This replica claimed the tick and queued its messages."""
    DUPLICATE = "duplicate"
    """Another replica (or an earlier pass) already claimed this tick or a newer one."""
    CLAIMED = "claimed"
    """Claimed without publishing: a skipped tick, or a condition check with no rising edge."""


_OUTCOMES = {1: Outcome.FIRED, 0: Outcome.CLAIMED, -1: Outcome.DUPLICATE}


@dataclass(frozen=True)
class EntryState:
    last_tick: datetime | None
    run_count: int
    next_due: datetime | None
    last_run: datetime | None


class Fence:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._script = client.register_script(FENCE_LUA)

    def claim_many(self, claims: Sequence[Claim]) -> list[Outcome]:
        """Claim each pair in order, in one round trip; one outcome per claim.

        The calls are packed here (hiredis, no per-argument work in Python: a burst packs
        tens of thousands of claims) and written at once on one pooled connection."""
        if not claims:
            return []
        requests = [
            self._pack(claims[start : start + CLAIMS_PER_SCRIPT])
            for start in range(0, len(claims), CLAIMS_PER_SCRIPT)
        ]
        out: list[Outcome] = []
        for replies in self._call(requests):
            out.extend(_OUTCOMES[int(r)] for r in replies)
        return out

    def _pack(self, claims: Sequence[Claim]) -> bytes:
        keys: list[str] = []
        meta: list[str] = []
        payloads: list[str] = []
        for c in claims:
            keys.append(entry_key(c.name))
            for m in c.messages:
                keys.append(m.list_name)
                payloads.append(m.payload)
            due = "" if c.next_due_ms is None else c.next_due_ms
            meta.append(f'[{len(c.messages)},"{c.tick_ms}","{c.now_ms}","{due}","{c.mode}",'
                        f"{int(c.token)}]")  # fmt: skip
        command: tuple[Any, ...] = (
            "EVALSHA", self._script.sha, len(keys), *keys, f"[{','.join(meta)}]", *payloads
        )  # fmt: skip
        packed: bytes = hiredis.pack_command(command)
        return packed

    def _call(self, requests: list[bytes], *, loaded: bool = False) -> list[Any]:
        """Send the packed calls in one write, read every reply; a script Redis forgot (a
        restart, SCRIPT FLUSH) is loaded and the calls it refused are sent again."""
        pool = self.client.connection_pool
        conn = pool.get_connection()
        replies: list[Any] = []
        try:
            conn.send_packed_command(requests)  # type: ignore[no-untyped-call]
            for _ in requests:
                try:
                    replies.append(conn.read_response())
                except redis.exceptions.NoScriptError:
                    replies.append(None)
                except redis.exceptions.ResponseError as exc:
                    replies.append(exc)
        except BaseException:
            conn.disconnect()  # type: ignore[no-untyped-call]
            raise
        finally:
            pool.release(conn)
        for reply in replies:
            if isinstance(reply, redis.exceptions.ResponseError):
                raise reply
        refused = [i for i, reply in enumerate(replies) if reply is None]
        if refused:
            if loaded:
                raise redis.exceptions.NoScriptError("the fence script could not be loaded")
            self.client.script_load(FENCE_LUA)
            again = self._call([requests[i] for i in refused], loaded=True)
            for i, reply in zip(refused, again, strict=True):
                replies[i] = reply
        return replies

    def claim(
        self,
        name: str,
        tick: datetime,
        *,
        now: datetime,
        next_due: datetime | None,
        messages: Sequence[Outgoing] = (),
        mode: str = "fire",
        token: int = 0,
    ) -> Outcome:
        """Claim ``tick`` for ``name``; mode fire | skip | cond0 | cond1 (condition value)."""
        due_ms = None if next_due is None else to_ms(next_due)
        claim = Claim(name, to_ms(tick), to_ms(now), due_ms, messages, mode, token)
        return self.claim_many([claim])[0]

    def anchor(self, name: str, now: datetime) -> None:
        """A new entry's ticks start after ``now``: nothing before it is ever due."""
        self.client.hsetnx(entry_key(name), "last_tick_ms", to_ms(now))

    def anchor_many(self, anchors: Sequence[tuple[str, datetime]]) -> None:
        """:meth:`anchor` for many entries, in round trips of a few thousand."""
        for start in range(0, len(anchors), STATE_READS_PER_ROUND_TRIP):
            pipe = self.client.pipeline(transaction=False)
            for name, at in anchors[start : start + STATE_READS_PER_ROUND_TRIP]:
                pipe.hsetnx(entry_key(name), "last_tick_ms", to_ms(at))
            pipe.execute()

    def last_ticks(self, names: Sequence[str]) -> list[datetime | None]:
        """Each entry's newest claimed tick (None: no state), in round trips of a few thousand."""
        out: list[datetime | None] = []
        for start in range(0, len(names), STATE_READS_PER_ROUND_TRIP):
            pipe = self.client.pipeline(transaction=False)
            for name in names[start : start + STATE_READS_PER_ROUND_TRIP]:
                pipe.hget(entry_key(name), "last_tick_ms")
            out.extend(None if raw is None else from_ms(int(raw)) for raw in pipe.execute())
        return out

    def states(self, names: Sequence[str]) -> dict[str, EntryState]:
        pipe = self.client.pipeline(transaction=False)
        fields = ("last_tick_ms", "run_count", "next_due_ms", "last_run_ms")
        for name in names:
            pipe.hmget(entry_key(name), fields)
        out: dict[str, EntryState] = {}
        for name, raw in zip(names, pipe.execute(), strict=True):
            last, count, due, run = (None if v is None else int(v) for v in raw)
            out[name] = EntryState(
                last_tick=None if last is None else from_ms(last),
                run_count=count or 0,
                next_due=None if due is None else from_ms(due),
                last_run=None if run is None else from_ms(run),
            )
        return out
