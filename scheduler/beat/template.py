"""A task entry's message compiled once, then rendered per tick by joining strings.

At 100,000 entries a burst of ticks is bound by building messages: serializing each one is
most of the work. Everything in a plain task's message is the same for every tick but the task
id, the publish and tick instants, the delivery tag and the expiry; a :class:`Template` holds
the JSON around those values, and :func:`render` fills them in. Entries whose messages are
the same apart from those values (the same task, queue, arguments and options) share one
template. Chains and groups are built by :func:`scheduler.beat.message.build`; a test checks
that both ways give the same message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import getrandbits
from typing import NamedTuple

from contract.priority import Priorities
from scheduler.beat.message import Outgoing, message_dict, task_id
from scheduler.beat.spec import Entry

MARK = re.compile(r'"@@shoal:(\w+)@@"')
SHARED_MAX = 50_000


def _mark(name: str) -> str:
    return f"@@shoal:{name}@@"


VALUES = ("id", "tag", "published_at", "entry", "tick", "tick_ms", "expires", "expiration")
"""The values a template leaves open, in the order :func:`render` computes them."""
SAFE_NAME = re.compile(r"^[\w.:@ -]*$", re.ASCII)


@dataclass(frozen=True, slots=True)
class Template:
    list_name: str
    pieces: tuple[str, ...]
    """The JSON between the values; one more piece than values."""
    fields: tuple[int, ...]
    """Which value (an index into :data:`VALUES`) goes after each piece but the last."""
    expiry: bool
    """The message expires: the expiry values are filled in too."""


_shared: dict[Template, Template] = {}


def compile_entry(entry: Entry, priorities: Priorities) -> Template | None:
    """The template of a plain task entry; None for a chain or a group."""
    if entry.mode != "task":
        return None
    (sig,) = entry.signatures
    expiry = entry.expires_at is not None or bool(entry.expires_s)
    if entry.expires_at is not None:
        expiration: str | None = _mark("expiration")
    elif entry.expires_s:
        expiration = str(int(entry.expires_s * 1000))
    else:
        expiration = None
    headers = {
        "published_at": _mark("published_at"),
        "shoal_beat_entry": _mark("entry"),
        "shoal_beat_tick": _mark("tick"),
        "shoal_beat_tick_ms": _mark("tick_ms"),
    }
    message = message_dict(
        sig, tid=_mark("id"), headers=headers, chain=None,
        expires=_mark("expires") if expiry else None, expiration=expiration, tag=_mark("tag"),
    )  # fmt: skip
    parts = MARK.split(json.dumps(message))
    fields = tuple(VALUES.index(name) for name in parts[1::2])
    list_name = priorities.list_for(sig.queue, sig.priority)
    template = Template(list_name, tuple(parts[0::2]), fields, expiry)
    if len(_shared) >= SHARED_MAX:
        _shared.clear()
    return _shared.setdefault(template, template)


def _tag() -> str:
    """A random (version 4) UUID for kombu's delivery tag; not a secret, so not os.urandom."""
    h = f"{getrandbits(128) & ~(0xF000 << 64) & ~(0xC << 60) | (0x4000 << 64) | (0x8 << 60):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _values(template: Template, entry: Entry, tick: datetime, now: datetime) -> list[str]:
    tid = task_id(entry.name, tick)
    name = entry.name
    values = [
        f'"{tid}"',
        f'"{_tag()}"',
        f'"{now.astimezone(UTC).isoformat()}"',
        f'"{name}"' if SAFE_NAME.match(name) else json.dumps(name),
        f'"{tick.astimezone(UTC).isoformat()}"',
        str(int(tick.timestamp() * 1000)),
    ]
    if template.expiry:  # the instant, and what is left of it
        at = entry.expires_at or now + timedelta(seconds=entry.expires_s or 0)
        left_s = ((entry.expires_at or now) - now).total_seconds()
        values += [f'"{at.isoformat()}"', f'"{max(int(left_s * 1000), 0)}"']
    return values


def _joined(template: Template, values: list[str]) -> list[str]:
    pieces = template.pieces
    out = [pieces[0]]
    for index, piece in zip(template.fields, pieces[1:], strict=True):
        out.append(values[index])
        out.append(piece)
    return out


def render(template: Template, entry: Entry, tick: datetime, now: datetime) -> Outgoing:
    """The message for ``tick``, published at ``now``: the same as ``message.build``'s."""
    values = _values(template, entry, tick, now)
    return Outgoing(template.list_name, "".join(_joined(template, values)), values[0][1:-1])


class Prepared(NamedTuple):
    """A message built ahead of its tick but for its publish instant: ``left``, the instant
    as a JSON string, ``right``."""

    list_name: str
    left: str
    right: str
    task_id: str

    def finish(self, now_iso: str) -> Outgoing:
        return Outgoing(self.list_name, f'{self.left}"{now_iso}"{self.right}', self.task_id)


PUBLISHED = VALUES.index("published_at")


def prepare(template: Template, entry: Entry, tick: datetime) -> Prepared | None:
    """The message for ``tick`` built ahead, the publish instant left open; None when the
    message expires (its expiry counts from the publish instant)."""
    if template.expiry:
        return None
    values = _values(template, entry, tick, tick)
    parts = _joined(template, values)
    at = 1 + 2 * template.fields.index(PUBLISHED)  # the one place the instant goes
    return Prepared(template.list_name, "".join(parts[:at]), "".join(parts[at + 1 :]),
                    values[0][1:-1])  # fmt: skip
