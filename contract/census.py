"""Per queue: held by live workers, held by dead ones awaiting recovery, delayed (count and the
earliest due time), in one script (``census.lua``) for the autoscaler, status and metrics."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from contract import keys, scripts


class Holding(NamedTuple):
    held_live: int
    """Messages taken by live worker processes (running, prefetched, or waiting for an ETA)."""
    held_dead: int
    """Messages of dead worker processes that recovery has not returned yet."""
    delayed: int
    next_due_ms: int | None
    """The earliest due time in the delayed set (epoch ms), None when it is empty."""


def read(client: Any, queues: Iterable[str]) -> dict[str, Holding]:
    """The holding of every queue in ``queues`` (one round trip)."""
    names = list(queues)
    if not names:
        return {}
    script_keys = [keys.workers(), *(keys.delayed(q) for q in names)]
    reply = scripts.run(client, "census", script_keys, [keys.worker(""), *names])
    out = {}
    for queue, raw in zip(names, reply, strict=True):
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        live, dead, delayed, first = text.split(" ")
        due = None if first == "-" else int(float(first))
        out[queue] = Holding(int(live), int(dead), int(delayed), due)
    return out
