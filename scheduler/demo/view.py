"""What the demo shows: each queue read from Redis, a history of samples, and the decisions.

Per queue, one look at Redis gives the backlog over all priority lists (and per priority step),
the oldest waiting task's age (from ``published_at``), tasks in flight and live workers (the
workers' in-flight accounting), tasks held by live and by dead workers and the delayed tasks
with the first due time (the delivery census, read with the counts), tasks completed
(``shoal:stats:<queue>``), and the autoscaler's last decision (the status hash
``shoal:autoscaler:status``, when an autoscaler runs).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from contract.inflight import read_inflight
from contract.priority import DEFAULT_SEPARATOR, DEFAULT_STEPS
from scheduler.autoscaler import status
from scheduler.autoscaler.redis_source import CountsReader


@dataclass(frozen=True)
class QueueLook:
    queue: str
    backlog: int
    in_flight: int
    oldest_age_s: float | None
    completed: int
    workers: int
    """Live workers (unexpired in-flight entries): the replicas actually running."""
    desired: int | None
    reason: str
    detail: str
    waiting: tuple[tuple[int, int], ...] = ()
    """(priority step, tasks waiting in its list)."""
    held_live: int = 0
    held_dead: int = 0
    delayed: int = 0
    next_due_in_s: float | None = None


@dataclass(frozen=True)
class DecisionLine:
    at_s: float
    queue: str
    before: int | None
    after: int
    reason: str
    detail: str


class Reader:
    """Reads every queue in two round trips (counts, then status)."""

    def __init__(self, client: redis.Redis, queues: Sequence[str]) -> None:
        self.client = client
        self.queues = list(queues)
        self.counts = CountsReader(client, steps=DEFAULT_STEPS, sep=DEFAULT_SEPARATOR)

    def read(self) -> dict[str, QueueLook]:
        now = time.time()
        now_ms = int(now * 1000)
        counts = self.counts.read(self.queues, now_ms)
        workers = read_inflight(self.client, self.queues, now_ms)
        decisions: dict[str, dict[str, Any]] = {
            str(r["queue"]): r for r in status.read(self.client)
        }
        looks = {}
        for queue in self.queues:
            c = counts[queue]
            d = decisions.get(queue, {})
            oldest = now - min(c.published_at) if c.backlog and c.published_at else None
            desired = d.get("desired_replicas")
            looks[queue] = QueueLook(
                queue=queue,
                backlog=c.backlog,
                in_flight=c.in_flight,
                oldest_age_s=max(0.0, oldest) if oldest is not None else None,
                completed=c.completed,
                workers=len(workers.get(queue, {})),
                desired=desired if isinstance(desired, int) else None,
                reason=str(d.get("reason", "")),
                detail=str(d.get("detail", "")),
                waiting=tuple(zip(self.counts.steps, c.waiting, strict=True)),
                held_live=c.held_live,
                held_dead=c.held_dead,
                delayed=c.delayed,
                next_due_in_s=None if c.next_due_ms is None else c.next_due_ms / 1000 - now,
            )
        return looks


@dataclass
class History:
    """Samples over the run, for the throughput column, the summary and the PNG."""

    queues: list[str]
    times: list[float] = field(default_factory=list)
    looks: list[dict[str, QueueLook]] = field(default_factory=list)
    decisions: deque[DecisionLine] = field(default_factory=lambda: deque(maxlen=200))
    decision_count: dict[str, int] = field(default_factory=dict)

    def add(self, at_s: float, looks: dict[str, QueueLook]) -> None:
        previous = self.looks[-1] if self.looks else {}
        for queue, look in looks.items():
            before = previous.get(queue)
            if look.desired is None:
                continue
            if before is None or before.desired != look.desired:
                old = before.desired if before else None
                if old is None and look.desired == 0:
                    continue
                self.decisions.append(
                    DecisionLine(at_s, queue, old, look.desired, look.reason, look.detail)
                )
                self.decision_count[queue] = self.decision_count.get(queue, 0) + 1
        self.times.append(at_s)
        self.looks.append(looks)

    def rate_per_s(self, queue: str, window_s: float = 5.0) -> float:
        """Completions per second over the last ``window_s``."""
        if len(self.times) < 2:
            return 0.0
        end = len(self.times) - 1
        start = end
        while start > 0 and self.times[end] - self.times[start - 1] <= window_s:
            start -= 1
        if start == end:
            start = end - 1
        span = self.times[end] - self.times[start]
        done = self.looks[end][queue].completed - self.looks[start][queue].completed
        return max(0.0, done / span) if span > 0 else 0.0

    def series(self, queue: str, name: str) -> list[float]:
        values = []
        for looks in self.looks:
            value = getattr(looks[queue], name)
            values.append(float(value) if value is not None else 0.0)
        return values
