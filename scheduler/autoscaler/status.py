"""The status hash ``shoal:autoscaler:status``: queue -> JSON of the last observation and decision.

Written by the controller every pass, read by ``shoal status`` (and the demo's view). Per queue:
the tasks waiting (in all and per priority step), in flight, held by live and by dead workers,
delayed with the first due time (epoch seconds, so a reader computes "due in" at its own now),
the replicas and the decision with its reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis

from contract import keys
from scheduler.autoscaler.model import Decision, Observation


def record(
    queue: str,
    deployment: str,
    obs: Observation,
    decision: Decision,
    *,
    at: float,
    error: str = "",
    waiting: Sequence[int] = (),
    steps: Sequence[int] = (),
) -> dict[str, Any]:
    """``waiting``: the tasks waiting per priority step of ``steps`` (in that order)."""
    ok = obs.ok
    due = obs.next_due_in_s
    return {
        "queue": queue,
        "deployment": deployment,
        "ok": ok,
        "error": error,
        "backlog": obs.backlog if ok else None,
        "waiting": dict(zip(map(str, steps), waiting, strict=True)) if ok and waiting else None,
        "in_flight": obs.in_flight if ok else None,
        "held_live": obs.held_live if ok else None,
        "held_dead": obs.held_dead if ok else None,
        "delayed": obs.delayed if ok else None,
        "next_due_at": round(at + due, 3) if ok and due is not None else None,
        "oldest_age_s": round(obs.oldest_age_s, 3) if obs.oldest_age_s is not None else None,
        "arrival_rate_per_s": round(obs.arrival_rate_per_s, 3),
        "completion_rate_per_s": round(obs.completion_rate_per_s, 3),
        "current_replicas": obs.current_replicas,
        "desired_replicas": decision.desired,
        "reason": str(decision.reason),
        "detail": decision.detail,
        "at": round(at, 3),
    }


def write(client: redis.Redis, records: Iterable[Mapping[str, Any]]) -> None:
    mapping = {r["queue"]: json.dumps(r, sort_keys=True) for r in records}
    if mapping:
        client.hset(keys.autoscaler_status(), mapping=mapping)


def forget(client: redis.Redis, queues: Iterable[str]) -> None:
    """Remove the status of queues the controller no longer manages."""
    names = list(queues)
    if names:
        client.hdel(keys.autoscaler_status(), *names)


def read(client: redis.Redis) -> list[dict[str, Any]]:
    raw = client.hgetall(keys.autoscaler_status())
    out = []
    for value in raw.values():
        try:
            item = json.loads(value)
        except ValueError:
            continue
        if isinstance(item, dict) and "queue" in item:
            out.append(item)
    return sorted(out, key=lambda r: str(r["queue"]))


def _age(value: object) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value:.0f}s" if value < 120 else f"{value / 60:.0f}m"


def _num(value: object) -> str:
    return "?" if value is None else str(value)


def by_priority(waiting: Iterable[tuple[int, int]]) -> str:
    """``9:2,0:5`` from (step, tasks) pairs: the non-empty steps, most urgent first."""
    return ",".join(f"{s}:{n}" for s, n in sorted(waiting, reverse=True) if n) or "-"


def _by_priority(waiting: object) -> str:
    if not isinstance(waiting, Mapping):
        return "-"
    try:
        return by_priority((int(s), int(n)) for s, n in waiting.items())
    except (TypeError, ValueError):
        return "?"


def _due(at: object, now: float | None) -> str:
    """When the first delayed task is due, from ``now``: ``45s``, ``3m``; ``-2s`` overdue."""
    if not isinstance(at, int | float) or now is None:
        return "-"
    left = at - now
    return _age(left) if left >= 0 else "-" + _age(-left)


HEADER = (
    "QUEUE",
    "BACKLOG",
    "BY PRIORITY",
    "IN FLIGHT",
    "HELD",
    "DEAD",
    "DELAYED",
    "NEXT DUE",
    "OLDEST",
    "CURRENT",
    "DESIRED",
    "REASON",
    "UPDATED",
)
"""BY PRIORITY: waiting per priority step; HELD, DEAD: held by live and by dead workers;
NEXT DUE: when the first delayed task is due."""


def table(records: Iterable[Mapping[str, Any]], *, now: float | None = None) -> str:
    rows = [HEADER]
    for r in records:
        updated = _age(now - r["at"]) + " ago" if now is not None and "at" in r else "-"
        rows.append(
            (
                str(r["queue"]),
                _num(r.get("backlog")),
                _by_priority(r.get("waiting")),
                _num(r.get("in_flight")),
                _num(r.get("held_live")),
                _num(r.get("held_dead")),
                _num(r.get("delayed")),
                _due(r.get("next_due_at"), now),
                _age(r.get("oldest_age_s")),
                _num(r.get("current_replicas")),
                _num(r.get("desired_replicas")),
                str(r.get("reason", "")),
                updated,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
