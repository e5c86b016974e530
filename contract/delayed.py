"""Delayed tasks wait in Redis, not in a worker: one sorted set per queue, scored by due time.

``shoal:delayed:<queue>`` (:func:`contract.keys.delayed`): a member is ``<n>:<list><message>``,
``n`` the length of the list name, then the list the message came from and the message exactly
as it was there; the score is its due time in ms (its ETA). A worker parks a task due later
than its threshold in the same script that removes it from its held record (``fetch.lua``),
and :func:`promote` (``promote.lua``) moves what is due back to the front of its list, each
member once, by whichever shoal process runs it: every worker, and the autoscaler when no
worker runs. A task is moved :data:`PROMOTE_LEAD_MS` before it is due, so a worker receives it
in time and starts it at its ETA; the worker's park threshold must exceed that lead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contract import keys, scripts

PROMOTE_LEAD_MS = 2000
PROMOTE_BATCH = 1000
"""Members moved per script call: a few ms of Redis time, however many are due."""


def member(list_name: str, raw: bytes) -> bytes:
    name = list_name.encode()
    return f"{len(name)}:".encode() + name + raw


def parse_member(value: bytes) -> tuple[str, bytes]:
    """``(list, message)`` of a delayed-set member."""
    length, _, rest = value.partition(b":")
    n = int(length)
    return rest[:n].decode(), rest[n:]


def promote(
    client: Any,
    queues: Iterable[str],
    *,
    lead_ms: int = PROMOTE_LEAD_MS,
    batch: int = PROMOTE_BATCH,
    max_calls: int = 1000,
) -> int:
    """Move every task due within ``lead_ms`` back to the front of its list; returns how many."""
    delayed_keys = [keys.delayed(q) for q in queues]
    if not delayed_keys:
        return 0
    total = 0
    for _ in range(max_calls):
        moved, more = scripts.run(client, "promote", delayed_keys, [lead_ms, batch])
        total += int(moved)
        if not int(more):
            break
    return total
