"""The Redis queue source: every queue in one round trip.

Per queue it reads the length of the queue's list and of each priority list, the tail message
of each non-empty list (kombu LPUSHes and consumers BRPOP, so the oldest is at index -1) for its
``published_at`` header, the in-flight hash and the completed counter. By default this runs as
a Lua script (EVALSHA per :data:`QUEUES_PER_SCRIPT` queues, all written at once) whose reply is
one string of tokens per queue (the length of each list, in flight, completed, oldest
``published_at`` or ``-``) plus a list of the rare values the script leaves to Python (see
:data:`OBSERVE_SCRIPT`). The delivery census (:mod:`contract.census`: tasks held by live and by
dead workers, delayed tasks and the first due time) rides in the same round trip, one more
EVALSHA after the chunks. The arguments are packed once per set of queues, so a poll costs the
client one join of a short integer and one ``split`` per chunk. Where scripting is not allowed
it falls back to one pipeline of plain commands: the same answer, more bytes and parsing, except
the tasks held by workers, which only the census script can count (they read 0, and the switch
says so once).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import redis

from contract import census, keys, scripts
from contract.inflight import decode as decode_inflight
from contract.priority import DEFAULT_SEPARATOR, DEFAULT_STEPS, priority_lists
from scheduler.autoscaler.model import Reading
from scheduler.autoscaler.rates import RateState, estimate_oldest_age_s, update_rates
from scheduler.autoscaler.script_call import ScriptCall

log = logging.getLogger("shoal.autoscaler.source")

TAIL_WINDOW_BYTES = 2048
"""Where ``published_at`` is looked for first: the end of the message. The publish hook adds
it as the last header, so only the properties (a few hundred bytes) follow it; a big body
before it is never scanned. Not found there: the whole message is searched."""

QUEUES_PER_SCRIPT = 250
"""Queues per EVALSHA. Redis runs a script to its end and serves no other client meanwhile; at
250 queues one script holds it for about 4 ms here with tasks in one list per queue and about
10 ms with every list full (a single script for 1,000 queues: 13 and 36 ms), however many
queues there are. All the chunks still go in one round trip."""

OBSERVE_SCRIPT = """
local n, window, now_ms = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local call, pcall, type = redis.call, redis.pcall, type
local find, match, byte, sub, huge = string.find, string.match, string.byte, string.sub, math.huge
local out, k, extra, e = {}, 0, {}, 0
local ks = KEYS
local q, i, last = 0, 1, #ks
while i <= last do
  q = q + 1
  local oldest, oldest_raw, bad, first = huge, '-', nil, k
  for j = i, i + n - 1 do
    local len = pcall('LLEN', ks[j])
    k = k + 1
    if type(len) ~= 'number' then
      bad, len = bad or len.err, 0
    end
    out[k] = len
    if len > 0 then
      local tail = call('LINDEX', ks[j], -1)
      local size = tail and #tail or 0
      local at = tail and find(tail, 'published_at"', size > window and size - window or 1, true)
      while at and byte(tail, at - 1) ~= 34 do at = find(tail, 'published_at"', at + 13, true) end
      if not at and size > window then
        at = find(tail, '"published_at"', 1, true)
        at = at and at + 1
      end
      local raw, num
      if at and byte(tail, at + 13) == 58 and byte(tail, at + 14) == 32 then
        -- json.dumps' '"published_at": <value>': the value ends at ',', '}' or a space
        local stop = find(tail, '[,}%s]', at + 15)
        raw = stop and sub(tail, at + 15, stop - 1)
        num = raw and tonumber(raw)
      end
      if at and not num then
        raw = match(tail, '^%s*:%s*(%-?%d[%d%.eE+%-]*)', at + 13)
        num = raw and tonumber(raw)
        local text = not num and match(tail, '^%s*:%s*"([^"]*)"', at + 13)
        if text then
          extra[e + 1], extra[e + 2], extra[e + 3], e = q, 't', text, e + 3
        end
      end
      if num and num < oldest and num > -huge then oldest, oldest_raw = num, raw end
    end
  end
  local held = 0
  local values = pcall('HVALS', ks[i + n])
  if values.err then bad, values = bad or values.err, {} end
  for x = 1, #values do
    local v = values[x]
    local count, expires = match(v, '^(%d+) (%d+)$')
    if count and #count < 10 then
      if tonumber(expires) > now_ms then held = held + tonumber(count) end
    else
      extra[e + 1], extra[e + 2], extra[e + 3], e = q, 'i', v, e + 3
    end
  end
  local completed = pcall('HGET', ks[i + n + 1], 'completed')
  if type(completed) == 'table' then bad, completed = bad or completed.err, false end
  if bad then
    for x = first + 1, k do out[x] = 0 end
    held, completed, oldest_raw = 0, '0', '-'
    extra[e + 1], extra[e + 2], extra[e + 3], e = q, 'e', bad, e + 3
  elseif not completed then
    completed = '0'
  elseif not match(completed, '^%d%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?$') then
    extra[e + 1], extra[e + 2], extra[e + 3], e = q, 'c', completed, e + 3
    completed = '0'
  end
  out[k + 1], out[k + 2], out[k + 3], k = held, completed, oldest_raw, k + 3
  i = i + n + 2
end
return {table.concat(out, ' '), extra}
"""
"""KEYS: per queue its ``n`` lists, its in-flight hash and its stats hash. ARGV: ``n``,
:data:`TAIL_WINDOW_BYTES`, now in epoch ms (last: the only argument that changes). Reply: per
queue ``n + 3`` tokens: each list's length, in flight, completed, oldest ``published_at``.

The script turns into Lua numbers only values it reads exactly as Python does: canonical
in-flight entries (``"<count> <expires_ms>"``, a count of at most 9 digits), counters of at
most 14 digits, and unquoted JSON numbers (returned as their raw text, not reformatted). Any
other value goes back raw in the reply's second element, ``[queue index, kind, raw, ...]``
(kind ``t``: a quoted ``published_at``; ``i``: an in-flight entry; ``c``: the completed
counter), and Python reads it with the pipeline's own functions; so both paths give the same
:class:`Counts`. ``published_at`` is found as the first ``"published_at"`` key in the last
:data:`TAIL_WINDOW_BYTES` of the message, else in the whole message."""


class Counts(NamedTuple):
    """What Redis holds for one queue right now."""

    backlog: int
    in_flight: int
    completed: int
    published_at: tuple[float, ...]
    """The oldest ``published_at`` over the tails of the non-empty lists; empty when none
    carries a readable one."""
    error: str = ""
    """Why this queue's keys could not be read (one of them holds another type), the counts
    then being zero; empty when they were read."""
    waiting: tuple[int, ...] = ()
    """The length of each of the queue's lists, lowest priority step first (sum: backlog)."""
    held_live: int = 0
    held_dead: int = 0
    delayed: int = 0
    next_due_ms: int | None = None
    """As :class:`contract.census.Holding` counts them."""


def parse_published_at(raw: object) -> float | None:
    """Epoch seconds from a header value: a number, numeric text, or ISO 8601 text."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, bytes):
        raw = raw.decode(errors="replace")
    if isinstance(raw, int | float):
        return float(raw) if math.isfinite(raw) else None
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        number = float(raw)
    except ValueError:
        pass
    else:
        return number if math.isfinite(number) else None
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


def held(raw: bytes | str, now_ms: int) -> int:
    """One in-flight entry read by :func:`contract.inflight.decode` (bad UTF-8 counts 0)."""
    try:
        return decode_inflight(raw, now_ms)
    except UnicodeDecodeError:
        return 0


def in_flight_sum(entries: Any, now_ms: int) -> int:
    """Sum of unexpired in-flight entries (a HGETALL reply: a dict, or a flat list)."""
    values = list(entries.values()) if isinstance(entries, dict) else list(entries or [])[1::2]
    return sum(held(v, now_ms) for v in values)


def scripting_refused(exc: redis.ResponseError) -> bool:
    """Whether the server will never run the script for this client: an ACL without
    ``EVALSHA`` (NOPERM) or a server where the command is renamed away. Any other error (a key
    of another type, a busy server) fails this observation only."""
    return isinstance(exc, redis.exceptions.NoPermissionError) or str(exc).lower().startswith(
        "unknown command"
    )


def unreadable(error: bytes | str, lists: int) -> Counts:
    """A queue whose keys could not be read: no counts, and why."""
    text = error.decode(errors="replace") if isinstance(error, bytes) else error
    return Counts(0, 0, 0, (), text, (0,) * lists)


def _int(raw: object) -> int:
    try:
        return int(raw)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return 0


def _oldest(stamps: Any) -> tuple[float, ...]:
    found = [s for s in stamps if s is not None]
    return (min(found),) if found else ()


_Row = tuple[int, int, int, tuple[float, ...], str, tuple[int, ...], int, int, int, int | None]
_counts: Callable[[_Row], Counts] = functools.partial(tuple.__new__, Counts)
"""``Counts(*row)`` without the Python-level ``__new__`` of a NamedTuple (1,000 per poll)."""

_NOBODY = census.Holding(0, 0, 0, None)


class CountsReader:
    """Reads :class:`Counts` for many queues in one round trip (script, else pipeline)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        steps: tuple[int, ...],
        sep: str,
        use_script: bool = True,
        queues_per_script: int = QUEUES_PER_SCRIPT,
        holding: bool = True,
    ) -> None:
        self.client = client
        self.steps = steps
        self.sep = sep
        self.use_script = use_script
        self.queues_per_script = queues_per_script
        self.holding = holding
        """Whether the delivery census (held and delayed tasks) is read too."""
        self._script = ScriptCall(client, OBSERVE_SCRIPT)

    def lists(self, queue: str) -> list[str]:
        return priority_lists(queue, self.steps, self.sep)

    def script_keys(self, queues: Sequence[str]) -> list[str]:
        """The script's KEYS for ``queues``: each queue's lists, in-flight and stats hashes."""
        built: list[str] = []
        for queue in queues:
            built += [*self.lists(queue), keys.inflight(queue), keys.stats(queue)]
        return built

    def read(self, queues: Sequence[str], now_ms: int) -> dict[str, Counts]:
        if not queues:
            return {}
        if self.use_script:
            try:
                return self._read_script(queues, now_ms)
            except redis.ResponseError as exc:
                if not scripting_refused(exc):
                    raise  # a failed observation: held, and the script is tried again next poll
                log.warning(
                    "Lua scripting refused (%s): using a plain pipeline; tasks held by workers "
                    "are not counted (the delivery census is a script), delayed tasks are",
                    exc,
                )
                self.use_script = False
        return self._read_pipeline(queues, now_ms)

    def _read_script(self, queues: Sequence[str], now_ms: int) -> dict[str, Counts]:
        names = tuple(queues)
        size = self.queues_per_script
        chunks = [names[at : at + size] for at in range(0, len(names), size)]
        tag = (names, size, self.holding)
        if not self._script.prepared_for(tag):
            args = [len(self.steps), TAIL_WINDOW_BYTES]
            then = [("census", *census.call(names))] if self.holding else []
            self._script.prepare(
                tag,
                [(self.script_keys(c), args) for c in chunks],
                then=[(scripts.source(name), k, a) for name, k, a in then],
            )
        replies = self._script.call(now_ms)
        holding = census.parse(names, replies[-1]) if self.holding else {}
        result: dict[str, Counts] = {}
        n = len(self.steps)
        width = n + 3
        for chunk, (blob, extra) in zip(chunks, replies, strict=False):
            tokens = (blob.encode() if isinstance(blob, str) else blob).split(b" ")
            if len(tokens) != width * len(chunk):
                raise redis.ResponseError(f"observe script: {len(tokens)} tokens for {len(chunk)}")
            stamps = [() if o == b"-" else (float(o),) for o in tokens[n + 2 :: width]]
            waiting = list(zip(*[map(int, tokens[j::width]) for j in range(n)], strict=True))
            held = [holding.get(q, _NOBODY) for q in chunk]
            rows = zip(
                map(sum, waiting),
                map(int, tokens[n::width]),
                map(int, tokens[n + 1 :: width]),
                stamps,
                [""] * len(chunk),
                waiting,
                *zip(*held, strict=True),
                strict=True,
            )
            read = dict(zip(chunk, map(_counts, rows), strict=True))
            if extra:
                self._apply_extra(read, chunk, extra, now_ms, n)
            result.update(read)
        return result

    @staticmethod
    def _apply_extra(
        result: dict[str, Counts],
        names: tuple[str, ...],
        extra: list[Any],
        now_ms: int,
        lists: int,
    ) -> None:
        """Values the script left to Python, read by the pipeline's own functions."""
        for index in range(0, len(extra), 3):
            queue = names[int(extra[index]) - 1]
            kind, raw, counts = extra[index + 1], extra[index + 2], result[queue]
            if kind in (b"t", "t"):
                stamps = (*counts.published_at, parse_published_at(raw))
                result[queue] = counts._replace(published_at=_oldest(stamps))
            elif kind in (b"i", "i"):
                result[queue] = counts._replace(in_flight=counts.in_flight + held(raw, now_ms))
            elif kind in (b"c", "c"):
                result[queue] = counts._replace(completed=_int(raw))
            else:
                result[queue] = unreadable(raw, lists)

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
        if self.holding:
            for queue in queues:
                pipe.zcard(keys.delayed(queue))
                pipe.zrange(keys.delayed(queue), 0, 0, withscores=True)
        reply = pipe.execute(raise_on_error=False)
        width = 2 * n + 2
        holding = self._pipeline_holding(queues, reply[width * len(queues) :])
        result = {}
        for index, queue in enumerate(queues):
            row = reply[width * index : width * (index + 1)]
            failed = next((x for x in row if isinstance(x, redis.ResponseError)), None)
            if failed is not None:
                result[queue] = unreadable(str(failed), n)
                continue
            lengths = tuple(int(x) for x in row[:n])
            result[queue] = Counts(
                sum(lengths),
                in_flight_sum(row[2 * n], now_ms),
                _int(row[2 * n + 1]),
                _oldest(header_of(m) for m in row[n : 2 * n]),
                "",
                lengths,
                *holding.get(queue, _NOBODY),
            )
        return result

    def _pipeline_holding(self, queues: Sequence[str], reply: list[Any]) -> dict[str, Any]:
        """Delayed tasks by plain commands (tasks held by workers only the census counts)."""
        if not self.holding:
            return {}
        failed = next((x for x in reply if isinstance(x, redis.ResponseError)), None)
        if failed is not None:
            raise failed  # as the census script fails on a delayed set of another type
        out = {}
        for index, queue in enumerate(queues):
            count, head = reply[2 * index], reply[2 * index + 1]
            first = int(head[0][1]) if head else None
            out[queue] = census.Holding(0, 0, int(count), first)
        return out


_ReadingRow = tuple[
    int, int, float | None, float, float, bool, str, tuple[int, ...], int, int, int, float | None
]
_reading: Callable[[_ReadingRow], Reading] = functools.partial(tuple.__new__, Reading)
"""``Reading(*fields)`` (all of them) without the NamedTuple's Python-level ``__new__``."""

_NO_RATES = RateState()
"""A queue's rates before its first sample (frozen, so shared)."""


class RedisSource:
    """:class:`~scheduler.autoscaler.source.QueueSource` over Redis, with smoothed rates.

    ``clock`` gives epoch seconds: in-flight expiries and ``published_at`` are wall-clock.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        steps: tuple[int, ...] = DEFAULT_STEPS,
        sep: str = DEFAULT_SEPARATOR,
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
        (backlog, in_flight, completed, published_at, error, waiting, live, dead, delayed, due) = (
            counts
        )
        if error:
            return Reading.failed(error)  # the rates keep their last state
        rates = update_rates(
            self.rates.get(queue) or _NO_RATES,
            at=now,
            backlog=backlog + dead,  # a dead worker's tasks wait to go back to the queue
            in_flight=in_flight,
            completed=completed,
            half_life_s=self.rate_half_life_s,
        )
        self.rates[queue] = rates
        if backlog and published_at:
            oldest: float | None = max(0.0, now - min(published_at))
        else:
            oldest = estimate_oldest_age_s(
                backlog=backlog,
                backlog_since=rates.backlog_since,
                arrival_per_s=rates.arrival_per_s,
                now=now,
            )
        arrival, completion = rates.arrival_per_s, rates.completion_per_s
        due_in = None if due is None else due / 1000 - now
        return _reading(
            (backlog, in_flight, oldest, arrival, completion, True, "", waiting, live, dead,
             delayed, due_in)
        )  # fmt: skip

    def close(self) -> None:
        self.client.close()
