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


def task_id(entry: str, tick: datetime, index: int = 0) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{entry}|{int(tick.timestamp() * 1000)}|{index}"))


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


def envelope(
    sig: Signature,
    *,
    tid: str,
    headers: dict[str, Any],
    chain: list[dict[str, Any]] | None = None,
    expires_s: float | None = None,
    now: datetime,
    priorities: Priorities = DEFAULT_PRIORITIES,
) -> Outgoing:
    """One message in kombu's Redis format."""
    body = [list(sig.args), dict(sig.kwargs), {
        "callbacks": None, "errbacks": None, "chain": chain, "chord": None,
    }]  # fmt: skip
    expires = (now + timedelta(seconds=expires_s)).isoformat() if expires_s else None
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
        "timelimit": [None, None],
        "root_id": tid,
        "parent_id": None,
        "argsrepr": repr(tuple(sig.args)),
        "kwargsrepr": repr(dict(sig.kwargs)),
        "origin": ORIGIN,
        "ignore_result": False,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
        **headers,
    }
    properties: dict[str, Any] = {
        "correlation_id": tid,
        "reply_to": "",
        "delivery_mode": 2,
        "delivery_info": {"exchange": "", "routing_key": sig.queue},
        "priority": sig.priority or 0,
        "body_encoding": "base64",
        "delivery_tag": str(uuid.uuid4()),
    }
    if expires_s:
        properties["expiration"] = str(int(expires_s * 1000))
    message = {
        "body": base64.b64encode(json.dumps(body).encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": all_headers,
        "properties": properties,
    }
    return Outgoing(priorities.list_for(sig.queue, sig.priority), json.dumps(message), tid)


def build(
    entry: Entry, tick: datetime, now: datetime, priorities: Priorities = DEFAULT_PRIORITIES
) -> list[Outgoing]:
    """The messages that fire ``entry`` for ``tick``: one task, a chain's head, or a group."""
    beat_headers = {
        "published_at": now.astimezone(UTC).isoformat(),
        "shoal_beat_entry": entry.name,
        "shoal_beat_tick": tick.astimezone(UTC).isoformat(),
        "shoal_beat_tick_ms": int(tick.timestamp() * 1000),
    }
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
                expires_s=entry.expires_s,
                now=now,
                priorities=priorities,
            )
        ]
    group_id = task_id(entry.name, tick, -1) if entry.mode == "group" else None
    return [
        envelope(
            sig,
            tid=ids[i],
            headers={**beat_headers, "group": group_id, "group_index": i if group_id else None},
            expires_s=entry.expires_s,
            now=now,
            priorities=priorities,
        )
        for i, sig in enumerate(entry.signatures)
    ]
