"""Replicas of every queue's Deployment: starting, ready, stopping.

A scale-up adds pods that become ready ``start_delay_steps`` later. A scale-in first cancels
pods still starting (the newest first), then removes ready ones. A removed ready pod is paid
for ``stop_delay_steps`` more (SIGTERM to exit: the worker's shutdown and the process ending);
tasks still running on it finish first (the service model keeps them as ``draining``).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


class Pods:
    def __init__(
        self, initial: IntArray, *, start_delay_steps: int, stop_delay_steps: int = 0
    ) -> None:
        queues = int(initial.shape[0])
        self.delay = max(0, start_delay_steps)
        self.stop_delay = max(0, stop_delay_steps)
        self.ready = initial.astype(np.int64).copy()
        self.starting = np.zeros(queues, dtype=np.int64)
        self.stopping = np.zeros(queues, dtype=np.int64)
        self._ready_at: defaultdict[int, dict[int, int]] = defaultdict(dict)
        self._gone_at: defaultdict[int, dict[int, int]] = defaultdict(dict)
        self._now = 0

    def tick(self, t: int) -> bool:
        """Pods whose start delay ends at ``t`` become ready, stopped ones go; True if any."""
        self._now = t
        changed = False
        for queue, count in self._ready_at.pop(t, {}).items():
            self.ready[queue] += count
            self.starting[queue] -= count
            changed = True
        for queue, count in self._gone_at.pop(t, {}).items():
            self.stopping[queue] -= count
            changed = True
        return changed

    def replicas(self) -> IntArray:
        """The Deployment's replicas as the controller sees them (ready + starting)."""
        total: IntArray = self.ready + self.starting
        return total

    def scale(self, queue: int, desired: int) -> None:
        current = int(self.ready[queue] + self.starting[queue])
        if desired > current:
            self._add(queue, desired - current)
        elif desired < current:
            self._remove(queue, current - desired)

    def _add(self, queue: int, count: int) -> None:
        if self.delay == 0:
            self.ready[queue] += count
            return
        due = self._ready_at[self._now + self.delay]
        due[queue] = due.get(queue, 0) + count
        self.starting[queue] += count

    def _remove(self, queue: int, count: int) -> None:
        for ahead in range(self.delay, 0, -1):
            due = self._ready_at.get(self._now + ahead)
            if count == 0 or due is None or not due.get(queue):
                continue
            cancelled = min(count, due[queue])
            due[queue] -= cancelled
            self.starting[queue] -= cancelled
            count -= cancelled
        removed = min(count, int(self.ready[queue]))
        self.ready[queue] -= removed
        if removed and self.stop_delay:
            gone = self._gone_at[self._now + self.stop_delay]
            gone[queue] = gone.get(queue, 0) + removed
            self.stopping[queue] += removed
