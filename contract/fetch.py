"""The fetch script's arguments and reply (``fetch.lua``): settle, then take, in one step.

A worker process sends, in one ``EVALSHA``: the operations it owes (acknowledge, give back,
park) on messages of its held record (:mod:`contract.held`), then how many messages it wants.
The script applies the operations, checks the process is still alive, and moves up to that many
messages from its lists (staged ones first, then the lists, in the order given: priority, then
fairness) into the held hashes, numbering them from ``first_seq``. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from contract import keys
from contract.held import ListRecord

Arg = str | bytes | int


class Ack(NamedTuple):
    slot: int
    seq: int

    def args(self) -> list[Arg]:
        return ["a", self.slot, self.seq]


class GiveBack(NamedTuple):
    """Back to the front of its list; ``raw`` replaces the message (b"": as it was held)."""

    slot: int
    seq: int
    raw: bytes = b""

    def args(self) -> list[Arg]:
        return ["g", self.slot, self.seq, self.raw]


class Park(NamedTuple):
    """Into the delayed set of queue ``queue_index``, due at ``due_ms``."""

    slot: int
    seq: int
    queue_index: int
    due_ms: int
    member: bytes

    def args(self) -> list[Arg]:
        return ["p", self.slot, self.seq, self.queue_index, self.due_ms, self.member]


Op = Ack | GiveBack | Park


@dataclass(frozen=True)
class Layout:
    """The lists one fetch takes from, in order, and the queues whose delayed sets it parks in.

    Indexes in operations are 1-based positions in ``lists`` and ``queues``."""

    lists: tuple[ListRecord, ...]
    queues: tuple[str, ...]

    def keys(self) -> list[str]:
        return [
            keys.workers(),
            *(r.list_name for r in self.lists),
            *(r.held_key for r in self.lists),
            *(r.staging_key for r in self.lists),
            *(keys.delayed(q) for q in self.queues),
        ]

    def index_of(self, list_name: str) -> int:
        for i, record in enumerate(self.lists, start=1):
            if record.list_name == list_name:
                return i
        raise KeyError(list_name)


def args(
    incarnation: str, *, ttl_ms: int, count: int, want: int, first_seq: int, ops: Sequence[Op]
) -> list[Arg]:
    """ARGV for ``fetch.lua``: ``count`` lists, take up to ``want`` after applying ``ops``."""
    out: list[Arg] = [incarnation, ttl_ms, count, want, first_seq, len(ops)]
    for op in ops:
        out.extend(op.args())
    return out


class Taken(NamedTuple):
    slot: int
    seq: int
    raw: bytes


class Reply(NamedTuple):
    now_ms: int
    fenced: bool
    """The process was declared dead: nothing was taken; it must join again."""
    taken: list[Taken]


def parse(reply: Sequence[Any]) -> Reply:
    now_ms, got = int(reply[0]), int(reply[1])
    if got < 0:
        return Reply(now_ms, True, [])
    items = [
        Taken(int(reply[i]), int(reply[i + 1]), _as_bytes(reply[i + 2]))
        for i in range(2, len(reply), 3)
    ]
    return Reply(now_ms, False, items)


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()
