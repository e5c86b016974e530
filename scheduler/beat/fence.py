"""The tick fence: one Lua script claims (entry, tick) and pushes its messages, atomically.

Each entry's state is a Redis hash ``shoal:beat:entry:<name>`` holding ``last_tick_ms`` (the
newest tick claimed), ``next_due_ms``, ``run_count``, ``last_run_ms``, ``refused`` and, for
``when`` entries, the last ``condition`` value. The script fires a tick only if it is newer than
``last_tick_ms`` (compare-and-set) and, in the same step, LPUSHes the messages. Two replicas
that both think they lead therefore publish each tick exactly once, and a tick is never
claimed without its messages being queued (or the other way round).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import redis

from contract.keys import beat_entry as entry_key
from scheduler.beat.message import Outgoing


def to_ms(instant: datetime) -> int:
    return round(instant.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


FENCE_LUA = """
local last = tonumber(redis.call('HGET', KEYS[1], 'last_tick_ms') or '-1')
local tick = tonumber(ARGV[1])
if tick <= last then
  redis.call('HINCRBY', KEYS[1], 'refused', 1)
  return -1
end
redis.call('HSET', KEYS[1], 'last_tick_ms', ARGV[1])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'next_due_ms', ARGV[3])
else
  redis.call('HDEL', KEYS[1], 'next_due_ms')
end
local mode = ARGV[4]
if mode == 'skip' then return 0 end
if mode == 'cond0' or mode == 'cond1' then
  local before = redis.call('HGET', KEYS[1], 'condition')
  redis.call('HSET', KEYS[1], 'condition', string.sub(mode, 5))
  if mode == 'cond0' or before == '1' then return 0 end
end
redis.call('HINCRBY', KEYS[1], 'run_count', 1)
redis.call('HSET', KEYS[1], 'last_run_ms', ARGV[2], 'last_fired_tick_ms', ARGV[1],
           'fencing_token', ARGV[5])
for i = 2, #KEYS do
  redis.call('LPUSH', KEYS[i], ARGV[4 + i])
end
return 1
"""


class Outcome(StrEnum):
    FIRED = "fired"
    """This replica claimed the tick and queued its messages."""
    DUPLICATE = "duplicate"
    """Another replica (or an earlier pass) already claimed this tick or a newer one."""
    CLAIMED = "claimed"
    """Claimed without publishing: a skipped tick, or a condition check with no rising edge."""


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
        keys = [entry_key(name), *(m.list_name for m in messages)]
        args: list[Any] = [
            to_ms(tick),
            to_ms(now),
            "" if next_due is None else to_ms(next_due),
            mode,
            token,
            *(m.payload for m in messages),
        ]
        result = int(self._script(keys=keys, args=args))
        if result < 0:
            return Outcome.DUPLICATE
        return Outcome.FIRED if result == 1 else Outcome.CLAIMED

    def anchor(self, name: str, now: datetime) -> None:
        """A new entry's ticks start after ``now``: nothing before it is ever due."""
        self.client.hsetnx(entry_key(name), "last_tick_ms", to_ms(now))

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
