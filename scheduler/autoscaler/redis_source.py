"""The Redis queue source: every queue in one round trip.

Per queue it reads the length of the queue's list and of each priority list, the tail message
of each non-empty list (kombu LPUSHes and consumers BRPOP, so the oldest is at index -1) for its
``published_at`` header, the in-flight hash and the completed counter. By default this runs as
one Lua script (EVALSHA) that returns four numbers per queue: the script sums the unexpired
in-flight entries itself, exactly as :func:`workers.keys.decode_inflight` reads every value
:func:`workers.keys.encode_inflight` writes (anything else counts 0). Where scripting is not
allowed it falls back to one pipeline of plain commands (same answer, more bytes and parsing).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from scheduler.autoscaler.model import Reading
from scheduler.autoscaler.rates import RateState, estimate_oldest_age_s, update_rates
from workers import keys

log = logging.getLogger("shoal.autoscaler.source")

OBSERVE_SCRIPT = """
local n = tonumber(ARGV[1])
local now_ms = tonumber(ARGV[2])
local out = {}
local i = 1
while i <= #KEYS do
  local backlog = 0
  local oldest = false
  local texts = {}
  for j = 0, n - 1 do
    local len = redis.call('LLEN', KEYS[i + j])
    if len > 0 then
      backlog = backlog + len
      local tail = redis.call('LINDEX', KEYS[i + j], -1)
      local at = tail and string.find(tail, '"published_at"', 1, true)
      local raw = at and string.match(tail, '^"published_at"%s*:%s*"?([^,}"]*)', at)
      if raw and raw ~= '' then
        local num = tonumber(raw)
        if num == nil then
          texts[#texts + 1] = raw
        elseif oldest == false or num < oldest then
          oldest = num
        end
      end
    end
  end
  local held = 0
  local entries = redis.call('HGETALL', KEYS[i + n])
  for x = 2, #entries, 2 do
    local count, expires = string.match(entries[x], '^(%d+) (%d+)$')
    if count and tonumber(expires) > now_ms then held = held + tonumber(count) end
  end
  out[#out + 1] = backlog
  out[#out + 1] = held
  out[#out + 1] = redis.call('HGET', KEYS[i + n + 1], 'completed') or ''
  out[#out + 1] = oldest and string.format('%.6f', oldest) or ''
  out[#out + 1] = texts
  i = i + n + 2
end
return out
"""


@dataclass(frozen=True)
class Counts:
    """What Redis holds for one queue right now."""

    backlog: int
    in_flight: int
    completed: int
    published_at: tuple[float, ...]
    """``published_at`` of the tail message of each non-empty list that carries one."""


def parse_published_at(raw: object) -> float | None:
    """Epoch seconds from a header value: a number, numeric text, or ISO 8601 text."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, bytes):
        raw = raw.decode(errors="replace")
    if isinstance(raw, int | float):
        return float(raw)
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.timestamp() if stamp.tzinfo else None


def header_of(message: bytes | None) -> float | None:
    """``published_at`` of a kombu envelope (JSON with a ``headers`` mapping)."""
    if not message:
        return None
    try:
        envelope = json.loads(message)
    except ValueError:
        return None
    headers = envelope.get("headers") if isinstance(envelope, dict) else None
    return parse_published_at(headers.get("published_at")) if isinstance(headers, dict) else None


def in_flight_sum(entries: Any, now_ms: int) -> int:
    """Sum of unexpired in-flight entries (a HGETALL reply: a dict, or a flat list)."""
    values = list(entries.values()) if isinstance(entries, dict) else list(entries or [])[1::2]
    return sum(keys.decode_inflight(v, now_ms) for v in values)


def _int(raw: object) -> int:
    try:
        return int(raw)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return 0


class CountsReader:
    """Reads :class:`Counts` for many queues in one round trip (script, else pipeline)."""

    def __init__(
        self, client: redis.Redis, *, steps: tuple[int, ...], sep: str, use_script: bool = True
    ) -> None:
        self.client = client
        self.steps = steps
        self.sep = sep
        self.use_script = use_script
        self._script = client.register_script(OBSERVE_SCRIPT)
        self._cached_keys: tuple[tuple[str, ...], list[str]] | None = None

    def lists(self, queue: str) -> list[str]:
        return keys.priority_lists(queue, self.steps, self.sep)

    def _keys(self, queues: tuple[str, ...]) -> list[str]:
        """The script's KEYS for ``queues``, built once per set of queues."""
        if self._cached_keys is None or self._cached_keys[0] != queues:
            built: list[str] = []
            for queue in queues:
                built += [*self.lists(queue), keys.inflight(queue), keys.stats(queue)]
            self._cached_keys = (queues, built)
        return self._cached_keys[1]

    def read(self, queues: Sequence[str], now_ms: int) -> dict[str, Counts]:
        if self.use_script:
            try:
                return self._read_script(queues, now_ms)
            except redis.ResponseError as exc:
                log.warning("Lua scripting refused (%s): using a plain pipeline", exc)
                self.use_script = False
        return self._read_pipeline(queues, now_ms)

    def _read_script(self, queues: Sequence[str], now_ms: int) -> dict[str, Counts]:
        all_keys = self._keys(tuple(queues))
        reply = self._script(keys=all_keys, args=[len(self.steps), now_ms])
        result = {}
        for index, queue in enumerate(queues):
            backlog, held, completed, oldest, texts = reply[5 * index : 5 * index + 5]
            stamps = (parse_published_at(h) for h in (oldest, *texts))
            result[queue] = Counts(
                backlog=int(backlog),
                in_flight=int(held),
                completed=_int(completed),
                published_at=tuple(s for s in stamps if s is not None),
            )
        return result

    def _read_pipeline(self, queues: Sequence[str], now_ms: int) -> dict[str, Counts]:
        pipe = self.client.pipeline(transaction=False)
        n = len(self.steps)
        for queue in queues:
            names = self.lists(queue)
            for name in names:
                pipe.llen(name)
            for name in names:
                pipe.lindex(name, -1)
            pipe.hgetall(keys.inflight(queue))
            pipe.hget(keys.stats(queue), "completed")
        reply = pipe.execute()
        width = 2 * n + 2
        result = {}
        for index, queue in enumerate(queues):
            row = reply[width * index : width * (index + 1)]
            stamps = (header_of(m) for m in row[n : 2 * n])
            result[queue] = Counts(
                backlog=sum(int(x) for x in row[:n]),
                in_flight=in_flight_sum(row[2 * n], now_ms),
                completed=_int(row[2 * n + 1]),
                published_at=tuple(s for s in stamps if s is not None),
            )
        return result


class RedisSource:
    """:class:`~scheduler.autoscaler.source.QueueSource` over Redis, with smoothed rates.

    ``clock`` gives epoch seconds: in-flight expiries and ``published_at`` are wall-clock.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        steps: tuple[int, ...] = (0, 3, 6, 9),
        sep: str = "\x06\x16",
        clock: Callable[[], float] = time.time,
        rate_half_life_s: float = 10.0,
        use_script: bool = True,
    ) -> None:
        self.client = client
        self.reader = CountsReader(client, steps=steps, sep=sep, use_script=use_script)
        self.clock = clock
        self.rate_half_life_s = rate_half_life_s
        self.rates: dict[str, RateState] = {}

    def observe(self, queues: Sequence[str]) -> dict[str, Reading]:
        now = self.clock()
        try:
            counts = self.reader.read(queues, int(now * 1000))
        except (redis.RedisError, OSError) as exc:
            return {q: Reading.failed(f"{type(exc).__name__}: {exc}") for q in queues}
        return {q: self._reading(q, counts[q], now) for q in queues}

    def _reading(self, queue: str, counts: Counts, now: float) -> Reading:
        rates = update_rates(
            self.rates.get(queue, RateState()),
            at=now,
            backlog=counts.backlog,
            in_flight=counts.in_flight,
            completed=counts.completed,
            half_life_s=self.rate_half_life_s,
        )
        self.rates[queue] = rates
        if counts.backlog and counts.published_at:
            oldest: float | None = max(0.0, now - min(counts.published_at))
        else:
            oldest = estimate_oldest_age_s(
                backlog=counts.backlog,
                backlog_since=rates.backlog_since,
                arrival_per_s=rates.arrival_per_s,
                now=now,
            )
        return Reading(
            backlog=counts.backlog,
            in_flight=counts.in_flight,
            oldest_age_s=oldest,
            arrival_rate_per_s=rates.arrival_per_s,
            completion_rate_per_s=rates.completion_per_s,
        )

    def close(self) -> None:
        self.client.close()
