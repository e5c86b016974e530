"""What a simulated controller sees and the interface it implements; the static baseline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class QueueSpec:
    """One queue of the values file, as the simulator needs it."""

    name: str
    pool: str
    concurrency: int
    min_replicas: int
    max_replicas: int
    target_latency_s: float | None
    reserved_per_replica: int
    """Tasks a busy replica holds beyond its running ones (taken off the list, not started).

    prefork: ``concurrency x (prefetchMultiplier - 1)`` (Celery's prefetch limit; 0 with the
    default multiplier 1). gevent: 1, whatever the multiplier: the consumer blocks handing the
    next task to a full pool (measured: a concurrency-10 worker holds 11)."""
    fixed_replicas: int | None = None
    """The Deployment's replicas when the autoscaler does not scale the queue
    (``autoscaling.enabled: false``); None for an autoscaled queue."""

    @property
    def start_replicas(self) -> int:
        """Replicas at the start of a run: the fixed ones, else ``minReplicas``."""
        return self.min_replicas if self.fixed_replicas is None else self.fixed_replicas


@dataclass(frozen=True)
class View:
    """The state of every queue at one poll, as Redis and the Deployments would show it.

    Every vector has one entry per queue, in the order of the run's queues.
    """

    now_s: float
    backlog: IntArray
    """Tasks in the queue's lists (all priority lists): waiting, not held by a worker."""
    base_backlog: IntArray
    """Tasks in the queue's base list only (``LLEN queue``: what KEDA's Redis scaler reads)."""
    in_flight: IntArray
    """Tasks held by workers: running plus reserved (prefetched)."""
    oldest_age_s: FloatArray
    """Age of the oldest waiting task, 0 when nothing waits."""
    published: IntArray
    """Cumulative tasks published."""
    completed: IntArray
    """Cumulative tasks completed (the workers' ``completed`` counter)."""
    replicas: IntArray
    """The Deployments' replicas (ready + starting)."""
    delayed: IntArray
    """Tasks in the queue's delayed set (published with a delay, not due yet)."""
    next_due_s: FloatArray
    """When the first of them is due (simulated seconds, like ``now_s``; inf when none)."""


class Controller(Protocol):
    """A scaling policy under simulation: called every ``poll_interval_s`` of simulated time."""

    name: str
    poll_interval_s: float

    def initial_replicas(self) -> IntArray: ...

    def poll(self, view: View) -> IntArray:
        """Desired replicas for every queue."""
        ...

    def reasons(self) -> list[dict[str, int]]:
        """Per queue: how many decisions were taken for each reason (empty if none)."""
        ...


class StaticController:
    """``static:N``: N replicas per queue, ready from the start, never changed."""

    def __init__(self, queues: list[QueueSpec], replicas: int) -> None:
        self.name = f"static:{replicas}"
        self.poll_interval_s = 3600.0
        self._replicas = np.full(len(queues), replicas, dtype=np.int64)

    def initial_replicas(self) -> IntArray:
        return self._replicas.copy()

    def poll(self, view: View) -> IntArray:
        return self._replicas

    def reasons(self) -> list[dict[str, int]]:
        return [{} for _ in self._replicas]
