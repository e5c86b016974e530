"""The fetch script's arguments and reply (``fetch.lua``): settle, then take, in one step.

A worker process sends, in one ``EVALSHA``: the operations it owes (acknowledge, give back,
park) on messages of its held record (:mod:`contract.held`), then how many messages it wants.
The script applies the operations, checks the process is still alive, and moves up to that many
messages from its lists (staged ones first, then the lists, in the order given: priority, then
fairness) into the held hashes, numbering them from ``first_seq``; staged messages it did not
want go back to the front of their lists. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from contract import keys
from contract.held import ListRecord

Arg = str | bytes | int


class Ack(NamedTuple):
    held_key: str
    seq: int

    def args(self) -> list[Arg]:
        return ["a", self.held_key, self.seq]


class GiveBack(NamedTuple):
    """Back to the front of ``list_name``; ``raw`` replaces the message (b"": as it was held)."""

    held_key: str
    seq: int
    list_name: str
    raw: bytes = b""

    def args(self) -> list[Arg]:
        return ["g", self.held_key, self.seq, self.list_name, self.raw]


class Park(NamedTuple):
    """Into the delayed set ``delayed_key``, due at ``due_ms`` (``member``: contract.delayed)."""

    held_key: str
    seq: int
    delayed_key: str
    due_ms: int
    member: bytes

    def args(self) -> list[Arg]:
        return ["p", self.held_key, self.seq, self.delayed_key, self.due_ms, self.member]


Op = Ack | GiveBack | Park


@dataclass(frozen=True)
class Layout:
    """The lists one fetch takes from, in order (a taken message's ``slot`` is the 1-based
    position of its list here), then ``idle`` lists (no longer consumed) whose staging lists
    are only emptied back into them."""

    lists: tuple[ListRecord, ...]
    idle: tuple[ListRecord, ...] = ()

    def keys(self) -> list[str]:
        every = (*self.lists, *self.idle)
        return [
            keys.workers(),
            *(r.list_name for r in every),
            *(r.held_key for r in every),
            *(r.staging_key for r in every),
            *(keys.holders(r.queue) for r in every),
        ]

    def args(
        self, incarnation: str, *, ttl_ms: int, want: int, first_seq: int, ops: Sequence[Op]
    ) -> list[Arg]:
        """ARGV for ``fetch.lua``: apply ``ops``, then take up to ``want``."""
        out: list[Arg] = [
            incarnation,
            ttl_ms,
            len(self.lists) + len(self.idle),
            len(self.lists),
            want,
            first_seq,
            len(ops),
        ]
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
