"""Celery protocol-2 messages as kombu's Redis transport stores them, built without a broker.

The beat pushes these with its fencing script (so claiming a tick and publishing it are one
atomic step), which is why it cannot go through ``app.send_task``. The layout is what a stock
Celery 5 client LPUSHes: a JSON envelope with the base64 body ``[args, kwargs, embed]``, the
task headers, and properties with ``delivery_info``, ``priority``, ``body_encoding`` and
``delivery_tag``. The list is kombu's priority list for the queue (``queue`` for steps below
the first, ``queue\\x06\\x16<step>`` above), so every Celery worker consumes it.

Task ids are derived from (entry, tick), so a tick's message has the same id on every replica.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from contract.priority import DEFAULT as DEFAULT_PRIORITIES
from contract.priority import Priorities
from scheduler.beat.spec import Entry, Signature

NAMESPACE = uuid.UUID("5d0f1c6e-8f0b-4a51-9a3c-2b5e7d1b9e44")
ORIGIN = f"shoal-beat{os.getpid()}@{socket.gethostname()}"


@dataclass(frozen=True)
class Outgoing:
    list_name: str
    payload: str
    task_id: str


def _format_uuid(raw: bytes, version: int) -> str:
    """``str(uuid.UUID(bytes=raw, version=version))`` without building the object."""
    b = bytearray(raw[:16])
    b[6] = (b[6] & 0x0F) | (version << 4)
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_NAMESPACE_BYTES = NAMESPACE.bytes


def task_id(entry: str, tick: datetime, index: int = 0) -> str:
    """``uuid5(NAMESPACE, "<entry>|<tick ms>|<index>")``: the same on every replica."""
    name = f"{entry}|{int(tick.timestamp() * 1000)}|{index}".encode()
    return _format_uuid(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest(), 5)


def delivery_tag() -> str:
    """A random (version 4) UUID, as kombu tags each message."""
    return _format_uuid(os.urandom(16), 4)


def _sig_dict(sig: Signature, sig_id: str) -> dict[str, Any]:
    options: dict[str, Any] = {"queue": sig.queue, "task_id": sig_id}
    if sig.priority is not None:
        options["priority"] = sig.priority
    return {
        "task": sig.task,
        "args": list(sig.args),
        "kwargs": dict(sig.kwargs),
        "options": options,
        "subtask_type": None,
        "immutable": sig.immutable,
    }


_EMPTY_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_BODY_CACHE: dict[tuple[Any, ...], str] = {}
_BODY_CACHE_MAX = 4096


def _body(sig: Signature, chain: list[dict[str, Any]] | None) -> str:
    """The base64 body ``[args, kwargs, embed]``; the same for every tick of a plain task, so
    the commonest bodies (few distinct argument lists) are kept."""
    if chain is None and not sig.args and not sig.kwargs:
        key: tuple[Any, ...] | None = ()
    else:
        key = None
    if key is not None and key in _BODY_CACHE:
        return _BODY_CACHE[key]
    embed = _EMPTY_EMBED if chain is None else {**_EMPTY_EMBED, "chain": chain}
    encoded = base64.b64encode(json.dumps([list(sig.args), dict(sig.kwargs), embed]).encode())
    body = encoded.decode()
    if key is not None and len(_BODY_CACHE) < _BODY_CACHE_MAX:
        _BODY_CACHE[key] = body
    return body


def _expiry(
    now: datetime, expires_s: float | None, expires_at: datetime | None
) -> tuple[str | None, str | None]:
    """The ``expires`` header and the ``expiration`` property (milliseconds), as Celery sets
    them for a number of seconds or an instant."""
    if expires_at is not None:
        left_ms = max(int((expires_at - now).total_seconds() * 1000), 0)
        return expires_at.isoformat(), str(left_ms)
    if expires_s:
        return (now + timedelta(seconds=expires_s)).isoformat(), str(int(expires_s * 1000))
    return None, None


def envelope(
    sig: Signature,
    *,
    tid: str,
    headers: dict[str, Any],
    chain: list[dict[str, Any]] | None = None,
    expires_s: float | None = None,
    expires_at: datetime | None = None,
    now: datetime,
    priorities: Priorities = DEFAULT_PRIORITIES,
) -> Outgoing:
    """One message in kombu's Redis format.

    ``sig.options`` carries what an app or database entry adds (see
    :mod:`scheduler.beat.sources.options`): the exchange and routing key of ``delivery_info``,
    the time limits, ``ignore_result``, Celery's own ``argsrepr``/``kwargsrepr`` and the custom
    headers, which go after the standard ones as Celery merges them.
    """
    expires, expiration = _expiry(now, expires_s, expires_at)
    message = message_dict(
        sig, tid=tid, headers=headers, chain=chain, expires=expires, expiration=expiration,
        tag=delivery_tag(),
    )  # fmt: skip
    return Outgoing(priorities.list_for(sig.queue, sig.priority), json.dumps(message), tid)


def message_dict(
    sig: Signature,
    *,
    tid: str,
    headers: dict[str, Any],
    chain: list[dict[str, Any]] | None,
    expires: str | None,
    expiration: str | None,
    tag: str,
) -> dict[str, Any]:
    """The message as a dict (``envelope`` serializes it; :mod:`.template` compiles it)."""
    opts = sig.options
    all_headers: dict[str, Any] = {
        "lang": "py",
        "task": sig.task,
        "id": tid,
        "shadow": None,
        "eta": None,
        "expires": expires,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [opts.get("time_limit"), opts.get("soft_time_limit")],
        "root_id": tid,
        "parent_id": None,
        "argsrepr": opts.get("argsrepr") or repr(tuple(sig.args)),
        "kwargsrepr": opts.get("kwargsrepr") or repr(dict(sig.kwargs)),
        "origin": ORIGIN,
        "ignore_result": opts.get("ignore_result", False),
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    custom = opts.get("headers")
    if custom:
        all_headers.update(custom)
    all_headers.update(headers)
    properties: dict[str, Any] = {
        "correlation_id": tid,
        "reply_to": "",
        "delivery_mode": 2,
        "delivery_info": {
            "exchange": opts.get("exchange", ""),
            "routing_key": opts.get("routing_key", sig.queue),
        },
        "priority": sig.priority or 0,
        "body_encoding": "base64",
        "delivery_tag": tag,
    }
    if expiration is not None:
        properties["expiration"] = expiration
    return {
        "body": _body(sig, chain),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": all_headers,
        "properties": properties,
    }


def build(
    entry: Entry, tick: datetime, now: datetime, priorities: Priorities = DEFAULT_PRIORITIES
) -> list[Outgoing]:
    """The messages that fire ``entry`` for ``tick``: one task, a chain's head, or a group."""
    tick_utc = tick.astimezone(UTC)
    beat_headers = {
        "published_at": now.astimezone(UTC).isoformat(),
        "shoal_beat_entry": entry.name,
        "shoal_beat_tick": tick_utc.isoformat(),
        "shoal_beat_tick_ms": int(tick.timestamp() * 1000),
    }
    exp_s, exp_at = entry.expires_s, entry.expires_at
    if entry.mode == "task":
        (sig,) = entry.signatures
        tid = task_id(entry.name, tick)
        return [envelope(sig, tid=tid, headers=beat_headers, now=now, priorities=priorities,
                         expires_s=exp_s, expires_at=exp_at)]  # fmt: skip
    ids = [task_id(entry.name, tick, i) for i in range(len(entry.signatures))]
    if entry.mode == "chain":
        rest = [_sig_dict(sig, ids[i + 1]) for i, sig in enumerate(entry.signatures[1:])]
        head = entry.signatures[0]
        return [
            envelope(
                head,
                tid=ids[0],
                headers=beat_headers,
                chain=rest[::-1] or None,  # Celery pops the next link from the end
                now=now,
                priorities=priorities,
                expires_s=exp_s,
                expires_at=exp_at,
            )
        ]
    group_id = task_id(entry.name, tick, -1)
    return [
        envelope(
            sig,
            tid=ids[i],
            headers={**beat_headers, "group": group_id, "group_index": i},
            now=now,
            priorities=priorities,
            expires_s=exp_s,
            expires_at=exp_at,
        )
        for i, sig in enumerate(entry.signatures)
    ]
