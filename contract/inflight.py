"""The in-flight record: how many tasks each worker holds per queue, in Redis with an expiry.

One hash per queue, ``shoal:inflight:<queue>`` (:func:`contract.keys.inflight`); each field is a
worker id (the pod name) and its value ``"<count> <expires_at_ms>"``. A reader ignores entries
whose expiry has passed, so a dead worker's count disappears without anyone deleting it;
writers delete stale fields now and then. One HGETALL per queue, pipelined, reads every queue
at once (:func:`read_inflight`); the autoscaler's observe script reads the same format.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contract import keys


def encode(count: int, expires_at_ms: int) -> str:
    return f"{count} {expires_at_ms}"


def decode(raw: bytes | str, now_ms: int) -> int:
    """The count an entry stands for now: 0 once expired or unreadable."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    try:
        count_s, expires_s = text.split(" ", 1)
        count, expires = int(count_s), int(expires_s)
    except ValueError:
        return 0
    return count if expires > now_ms else 0


def unexpired(raw: bytes | str, now_ms: int) -> bool:
    text = raw.decode() if isinstance(raw, bytes) else raw
    try:
        return int(text.split(" ", 1)[1]) > now_ms
    except (IndexError, ValueError):
        return False


def read_inflight(client: Any, queues: Iterable[str], now_ms: int) -> dict[str, dict[str, int]]:
    """Unexpired counts per queue and worker id (idle: 0), in one pipelined round trip."""
    names = list(queues)
    pipe = client.pipeline(transaction=False)
    for queue in names:
        pipe.hgetall(keys.inflight(queue))
    result: dict[str, dict[str, int]] = {}
    for queue, entries in zip(names, pipe.execute(), strict=True):
        live: dict[str, int] = {}
        for worker, raw in (entries or {}).items():
            if unexpired(raw, now_ms):
                name = worker.decode() if isinstance(worker, bytes) else str(worker)
                live[name] = decode(raw, now_ms)
        result[queue] = live
    return result


def remove_expired(client: Any, queues: Iterable[str], now_ms: int) -> int:
    """Delete the fields of workers whose entries expired (dead workers); returns how many."""
    removed = 0
    for queue in queues:
        entries = client.hgetall(keys.inflight(queue))
        stale = [w for w, raw in entries.items() if not unexpired(raw, now_ms)]
        if stale:
            removed += int(client.hdel(keys.inflight(queue), *stale))
    return removed
