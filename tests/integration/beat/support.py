"""Helpers for beat integration tests: start replicas, read what they published."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from contract.priority import priority_lists
from scheduler.beat.fence import entry_key
from tests.support.procs import Proc, ProcessTracker


@dataclass(frozen=True)
class Published:
    entry: str
    tick_ms: int
    task_id: str
    task: str
    published_at: str
    args: list[Any]
    list_name: str


def write_schedules(path: Path, text: str) -> None:
    """Replace the file atomically, as a ConfigMap update does (no half-written reads)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def start_beats(
    procs: ProcessTracker,
    env: dict[str, str],
    schedules: Path,
    count: int,
    *extra: str,
    name: str = "beat",
) -> list[Proc]:
    return [
        procs.shoal(
            "beat",
            "--schedules",
            str(schedules),
            "--metrics-port",
            "0",
            *extra,
            env=env,
            name=f"{name}{i}",
        )
        for i in range(count)
    ]


def published(client: redis.Redis, *queues: str) -> list[Published]:
    """Every message the beat left in the queues' priority lists, oldest first."""
    out: list[Published] = []
    for queue in queues:
        for list_name in priority_lists(queue):
            for raw in reversed(client.lrange(list_name, 0, -1)):  # LPUSH: newest first
                msg = json.loads(raw)
                headers = msg["headers"]
                body = json.loads(base64.b64decode(msg["body"]))
                out.append(
                    Published(
                        entry=headers["shoal_beat_entry"],
                        tick_ms=headers["shoal_beat_tick_ms"],
                        task_id=headers["id"],
                        task=headers["task"],
                        published_at=headers["published_at"],
                        args=body[0],
                        list_name=list_name,
                    )
                )
    return sorted(out, key=lambda p: (p.tick_ms, p.entry))


def state(client: redis.Redis, entry: str) -> dict[str, str]:
    raw: dict[bytes, bytes] = client.hgetall(entry_key(entry))  # type: ignore[assignment]
    return {k.decode(): v.decode() for k, v in raw.items()}


def beat_env(worker_env: dict[str, str], **extra: str) -> dict[str, str]:
    env = dict(worker_env)
    env.update(extra)
    return env


def log_text(proc: Proc) -> str:
    """A process's output, also after it was stopped (its log handle is closed then)."""
    return proc.log.read_text(errors="replace")
