"""Per queue: held by live workers, held by dead ones awaiting recovery, delayed (count and the
earliest due time), in one script (``census.lua``) for the autoscaler, status and metrics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


def call(queues: Sequence[str]) -> tuple[list[str], list[str]]:
    """The KEYS and ARGV of ``census.lua`` for ``queues`` (non-empty), for a caller that sends
    it with other commands (the autoscaler, in its observation's round trip)."""
    return [keys.workers(), *(keys.delayed(q) for q in queues)], [keys.worker(""), *queues]


def parse(queues: Sequence[str], reply: Sequence[Any]) -> dict[str, Holding]:
    """The script's reply for ``queues``, as :func:`read` returns it."""
    out = {}
    for queue, raw in zip(queues, reply, strict=True):
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        live, dead, delayed, first = text.split(" ")
        due = None if first == "-" else int(float(first))
        out[queue] = Holding(int(live), int(dead), int(delayed), due)
    return out


def read(client: Any, queues: Iterable[str]) -> dict[str, Holding]:
    """The holding of every queue in ``queues`` (one round trip)."""
    names = list(queues)
    if not names:
        return {}
    script_keys, args = call(names)
    return parse(names, scripts.run(client, "census", script_keys, args))
