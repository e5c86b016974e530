"""The status hash ``shoal:autoscaler:status``: queue -> JSON of the last observation and decision.

Written by the controller every pass, read by ``shoal status`` (and the demo's view).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from contract import keys
from scheduler.autoscaler.model import Decision, Observation


def record(
    queue: str, deployment: str, obs: Observation, decision: Decision, *, at: float, error: str = ""
) -> dict[str, Any]:
    return {
        "queue": queue,
        "deployment": deployment,
        "ok": obs.ok,
        "error": error,
        "backlog": obs.backlog if obs.ok else None,
        "in_flight": obs.in_flight if obs.ok else None,
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


def table(records: Iterable[Mapping[str, Any]], *, now: float | None = None) -> str:
    header = ("QUEUE", "BACKLOG", "IN FLIGHT", "OLDEST", "CURRENT", "DESIRED", "REASON", "UPDATED")
    rows = [header]
    for r in records:
        updated = _age(now - r["at"]) + " ago" if now is not None and "at" in r else "-"
        rows.append(
            (
                str(r["queue"]),
                _num(r.get("backlog")),
                _num(r.get("in_flight")),
                _age(r.get("oldest_age_s")),
                _num(r.get("current_replicas")),
                _num(r.get("desired_replicas")),
                str(r.get("reason", "")),
                updated,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
