"""The held record: what each worker process holds, in Redis, so a kill at any instant loses
nothing and a dead worker's tasks go back as soon as it is known dead.

A worker process has an *incarnation* (``<worker id>:<pid>:<random>``, new at every start) and
its record (key names in :mod:`contract.keys`):

- ``shoal:workers``, sorted set: incarnation -> liveness deadline, Redis time in ms. The worker
  moves it to now + its liveness timeout every heartbeat (``beat.lua``). Once the deadline has
  passed the worker is dead for good: its heartbeat no longer counts, it must join again under
  a new incarnation. Right after Redis started again deadlines are not trusted for one liveness
  timeout (``prelude.lua``), so an outage is no verdict.
- ``shoal:worker:<incarnation>``, hash: ``ttl_ms`` (its liveness timeout), ``swept_ms`` (last
  recovery) and, per list it takes from, ``list:<list>`` -> JSON ``{"queue", "held",
  "staging"}`` naming the two keys below. Every reader finds the keys there; nothing derives
  them again.
- ``shoal:held:<incarnation>:<list>``, hash: sequence number -> the message exactly as it was in
  ``<list>``. A message moves from the list into this hash in one script (``fetch.lua``), so it is
  never out of Redis's sight. An ack deletes it; giving it back or parking it moves it out.
- ``shoal:staging:<incarnation>:<list>``, list: what a blocking ``BLMOVE`` took from the front of
  ``<list>`` while the worker waited for work; the next fetch takes it into the held hash first,
  or puts what it does not want back at the front.

Recovery (``recover.lua``) puts a dead worker's staged, then held, messages back at the front of
their lists (the first taken runs first), atomically: racing recoverers return each message
once. It runs again at most once a second until the record has been dead for
:data:`FORGET_AFTER_MS` (a blocking move already waiting in Redis may still stage a message for
a dead worker), then deletes it. A worker that stops cleanly recovers its own record.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from contract import keys, scripts
from contract.delayed import PROMOTE_BATCH, PROMOTE_LEAD_MS, lead_ms, promote

LIVENESS_TIMEOUT_S = 15.0
"""The default liveness timeout (``SHOAL_LIVENESS_TIMEOUT_S``): a killed worker's tasks are back
in their queues 11-18 s after the kill (its last beat was up to one beat interval before)."""
MAX_BEAT_INTERVAL_S = 4.0
BEATS_PER_TIMEOUT = 5
BLOCK_TIMEOUT_S = 10
"""How long a worker's blocking move waits before it is sent again (an idle worker also looks
for work, and learns whether it was declared dead, this often)."""
FORGET_AFTER_MS = 3 * BLOCK_TIMEOUT_S * 1000
"""A dead record is deleted this long after its deadline: no blocking move can outlive it."""
DEAD_SCAN_LIMIT = 20
"""At most this many dead incarnations are listed per heartbeat (the most recent first)."""
LIST_FIELD = "list:"


def beat_interval_s(liveness_timeout_s: float) -> float:
    """How often a worker beats: five times per liveness timeout, at most every 4 s."""
    return min(liveness_timeout_s / BEATS_PER_TIMEOUT, MAX_BEAT_INTERVAL_S)


def new_incarnation(worker_id: str, *, pid: int | None = None) -> str:
    """A name for one run of one worker process; never reused."""
    return f"{worker_id}:{pid if pid is not None else os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True)
class ListRecord:
    """Where one worker process keeps what it took from one list of a queue."""

    list_name: str
    queue: str
    held_key: str
    staging_key: str

    @classmethod
    def of(cls, incarnation: str, queue: str, list_name: str) -> ListRecord:
        return cls(
            list_name,
            queue,
            keys.held(incarnation, list_name),
            keys.staging(incarnation, list_name),
        )

    def field(self) -> tuple[str, str]:
        value = {"queue": self.queue, "held": self.held_key, "staging": self.staging_key}
        return LIST_FIELD + self.list_name, json.dumps(value, sort_keys=True)


def parse_list_field(name: str | bytes, value: str | bytes) -> ListRecord | None:
    """A ``list:<list>`` field of a worker's record; None for any other field."""
    name = name.decode() if isinstance(name, bytes) else name
    if not name.startswith(LIST_FIELD):
        return None
    data = json.loads(value)
    return ListRecord(name[len(LIST_FIELD) :], data["queue"], data["held"], data["staging"])


class Beat(NamedTuple):
    alive: bool
    """False: this incarnation was declared dead; the worker must join under a new one."""
    now_ms: int
    promoted: int
    """Delayed tasks of the given queues moved back to their lists on the way."""
    more_due: bool
    """More delayed tasks are due than one call moves: call :func:`contract.delayed.promote`."""
    dead: list[str]
    """Incarnations whose deadline passed, most recent first, for :func:`recover`."""


def _beat_reply(reply: Sequence[Any]) -> Beat:
    dead = [d.decode() if isinstance(d, bytes) else str(d) for d in reply[4:]]
    return Beat(bool(int(reply[0])), int(reply[1]), int(reply[2]), bool(int(reply[3])), dead)


def _beat(
    client: Any,
    incarnation: str,
    mode: str,
    *,
    ttl_ms: int,
    scan: int,
    queues: Iterable[str],
    lead_ms: int = PROMOTE_LEAD_MS,
    fields: Sequence[str] = (),
) -> Beat:
    script_keys = [keys.workers(), keys.worker(incarnation), *(keys.delayed(q) for q in queues)]
    args: list[scripts.Arg] = [
        incarnation, ttl_ms, scan, mode, lead_ms, PROMOTE_BATCH, *fields,
    ]  # fmt: skip
    return _beat_reply(scripts.run(client, "beat", script_keys, args))


def join(
    client: Any,
    incarnation: str,
    *,
    ttl_ms: int,
    lists: Iterable[ListRecord],
    extra: Mapping[str, str] | None = None,
) -> Beat:
    """Register a new incarnation with its lists; it is alive for ``ttl_ms`` from now."""
    fields: list[str] = []
    for record in lists:
        fields.extend(record.field())
    for name, value in (extra or {}).items():
        fields.extend((name, value))
    return _beat(client, incarnation, "join", ttl_ms=ttl_ms, scan=0, queues=(), fields=fields)


def beat(
    client: Any,
    incarnation: str,
    *,
    ttl_ms: int,
    queues: Iterable[str] = (),
    lead_ms: int = PROMOTE_LEAD_MS,
    scan: int = DEAD_SCAN_LIMIT,
) -> Beat:
    """Move the deadline to now + ``ttl_ms`` (unless already dead), promote the delayed tasks
    of ``queues`` due within ``lead_ms``, list dead incarnations: one round trip."""
    return _beat(
        client, incarnation, "beat", ttl_ms=ttl_ms, scan=scan, queues=queues, lead_ms=lead_ms
    )


def add_lists(client: Any, incarnation: str, lists: Iterable[ListRecord]) -> None:
    """Name more lists in a live record (the worker started consuming another queue)."""
    mapping = dict(record.field() for record in lists)
    if mapping:
        client.hset(keys.worker(incarnation), mapping=mapping)


def recover(client: Any, incarnation: str, *, force: bool = False) -> int:
    """Return a dead incarnation's messages to the front of their lists; -1 if it is alive.

    ``force``: the worker itself gives back its whole record (clean shutdown) and counts as
    dead from now on."""
    args: list[scripts.Arg] = [
        incarnation, "1" if force else "0", FORGET_AFTER_MS, keys.holders(""),
    ]  # fmt: skip
    moved = scripts.run(client, "recover", [keys.workers(), keys.worker(incarnation)], args)
    return int(moved)


def recover_dead(client: Any, dead: Iterable[str]) -> dict[str, int]:
    """:func:`recover` each of ``dead``; returns how many messages each gave back (if any)."""
    returned = {}
    for incarnation in dead:
        moved = recover(client, incarnation)
        if moved > 0:
            returned[incarnation] = moved
    return returned


class Swept(NamedTuple):
    recovered: dict[str, int]
    """Dead incarnation -> messages it held that went back to their lists."""
    promoted: int


def sweep(
    client: Any,
    queues: Iterable[str],
    *,
    ttl_ms: int,
    interval_s: float,
    limit: int = DEAD_SCAN_LIMIT,
) -> Swept:
    """What a shoal process that holds nothing (the autoscaler) runs each loop: recover the dead
    workers' records and move the due delayed tasks of ``queues`` back to their lists, so both
    happen while every worker is at zero.

    ``ttl_ms``: no verdict during this long after Redis started again (the workers' liveness
    timeout); ``interval_s``: the pause until the caller's next sweep (it sets the lead)."""
    names = list(queues)
    lead = lead_ms(interval_s)
    beat_ = _beat(client, "", "scan", ttl_ms=ttl_ms, scan=limit, queues=names, lead_ms=lead)
    promoted = beat_.promoted
    if beat_.more_due:
        promoted += promote(client, names, lead_ms=lead)
    return Swept(recover_dead(client, beat_.dead), promoted)


def records(client: Any, incarnation: str) -> list[ListRecord]:
    """The lists named in a worker's record."""
    found = []
    for name, value in client.hgetall(keys.worker(incarnation)).items():
        record = parse_list_field(name, value)
        if record is not None:
            found.append(record)
    return found
