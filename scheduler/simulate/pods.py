"""Replicas of every queue's Deployment: starting (for ``start_delay_s``), ready, draining.

A scale-up adds pods that become ready ``start_delay_steps`` later. A scale-in first cancels
pods still starting (the newest first), then removes ready ones; tasks already running on a
removed pod finish (the service model keeps them as ``draining`` and the pod is paid for until
they do).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


class Pods:
    def __init__(self, initial: IntArray, *, start_delay_steps: int) -> None:
        queues = int(initial.shape[0])
        self.delay = max(0, start_delay_steps)
        self.horizon = self.delay + 1
        self.ready = initial.astype(np.int64).copy()
        self.starting = np.zeros(queues, dtype=np.int64)
        self._pending = np.zeros((self.horizon, queues), dtype=np.int64)
        self._due: set[int] = set()
        self._now = 0

    def tick(self, t: int) -> bool:
        """Pods whose start delay ends at step ``t`` become ready; True if any did."""
        self._now = t
        if t not in self._due:
            return False
        self._due.discard(t)
        row = self._pending[t % self.horizon]
        changed = bool(row.any())
        self.ready += row
        self.starting -= row
        row[:] = 0
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
        self._pending[(self._now + self.delay) % self.horizon, queue] += count
        self.starting[queue] += count
        self._due.add(self._now + self.delay)

    def _remove(self, queue: int, count: int) -> None:
        for ahead in range(self.delay, 0, -1):
            if count == 0:
                return
            row = (self._now + ahead) % self.horizon
            cancelled = min(count, int(self._pending[row, queue]))
            self._pending[row, queue] -= cancelled
            self.starting[queue] -= cancelled
            count -= cancelled
        self.ready[queue] -= min(count, int(self.ready[queue]))
