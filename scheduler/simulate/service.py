"""The service model: how a queue's worker slots turn waiting tasks into finished ones.

Every queue is a FIFO line in front of ``slots`` servers (ready replicas x concurrency); one
step of ``step_s`` seconds is simulated for all queues at once with numpy vectors, in whole
tasks. Two service-time models, chosen per run:

- ``exponential`` (default): each task's service time is exponential with the trace's mean,
  in expectation (mean field). A task in service completes within a step with probability
  ``p = 1 - exp(-step/mean)``; a slot that finishes early takes the next task, so a busy pool
  completes at most ``slots * step / mean`` tasks per step. Completions are drawn around that
  expectation with the binomial's spread (a normal approximation, rounded and clipped to whole
  tasks). The normals come in blocks of steps, one stream per queue: block ``b`` of the
  queue with stream key ``k`` is drawn from a generator seeded with ``(seed, k, b)``. A
  queue's draws depend on nothing else (not on the other queues, nor on which steps were
  simulated), so a run split into groups of queues gives the numbers of the whole run, and
  adding a queue changes no other queue's results. Same seed, same result.
- ``deterministic``: every task takes exactly the mean (what ``shoal.io_wait`` does in the
  fidelity test). A task started at step t frees its slot ``mean/step`` steps later (for a
  fractional number, that share of the tasks holds it one step longer, so 1.2 s tasks give a
  slot 1/1.2 tasks per step); a task shorter than a step lets its slot run ``step/mean`` tasks
  per step.

Scale-in drains: tasks already running on a removed replica finish (they are ``draining``);
no new task starts beyond the remaining slots. The per-step methods are kept lean (a dozen
vector operations) because they run 86,400 times for a day. ``step`` replaces the ``backlog``
and ``running`` arrays, it never changes them in place: the engine keeps them as its history.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from enum import StrEnum

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class ServiceKind(StrEnum):
    EXPONENTIAL = "exponential"
    DETERMINISTIC = "deterministic"


class ServiceModel:
    """State shared by both models: vectors with one entry per queue."""

    def __init__(self, queues: int, step_s: float) -> None:
        self.step_s = step_s
        self.backlog = np.zeros(queues, dtype=np.int64)
        """Tasks waiting (published, not started)."""
        self.running = np.zeros(queues, dtype=np.int64)
        """Tasks started and not finished: ``published - backlog - running`` is completed."""
        self.slots = np.zeros(queues, dtype=np.int64)
        self.draining = False
        """True while some scaled-in replica still finishes tasks."""

    def set_slots(self, slots: IntArray) -> None:
        raise NotImplementedError

    def set_service(self, service_s: FloatArray) -> None:
        raise NotImplementedError

    def step(self, t: int, arrivals: IntArray) -> None:
        raise NotImplementedError

    def busy(self) -> IntArray:
        """Tasks in service now (what the workers report as held, prefetch aside)."""
        return self.running

    def draining_slots(self) -> IntArray:
        """Slots still busy on scaled-in replicas (their pods are paid for until they finish)."""
        over: IntArray = np.maximum(self.busy() - self.slots, 0)
        return over


class ExponentialService(ServiceModel):
    """Exponential service: binomial-like completions per step, from per-queue seeded streams."""

    BLOCK = 4096

    def __init__(
        self, queues: int, step_s: float, *, seed: int, keys: Sequence[int] | None = None
    ) -> None:
        super().__init__(queues, step_s)
        self.seed = seed
        self.keys = list(range(queues)) if keys is None else list(keys)
        if len(self.keys) != queues:
            raise ValueError(f"{len(self.keys)} stream keys for {queues} queues")
        self.p = np.ones(queues)
        self.ratio = np.ones(queues)
        self.cap = np.zeros(queues)
        self.q = np.zeros(queues)
        self._block = -1
        self._noise = np.zeros((self.BLOCK, queues))

    def noise_block(self, block: int) -> FloatArray:
        """Standard normals for steps ``block * BLOCK`` onwards: one column per queue."""
        columns = [
            np.random.default_rng([self.seed, key, block]).standard_normal(self.BLOCK)
            for key in self.keys
        ]
        if not columns:
            return np.zeros((self.BLOCK, 0))
        return np.stack(columns, axis=1)

    def set_slots(self, slots: IntArray) -> None:
        self.slots = slots.copy()
        self.cap = slots * self.ratio
        self.draining = bool((self.running > slots).any())

    def set_service(self, service_s: FloatArray) -> None:
        self.ratio = self.step_s / service_s
        self.p = -np.expm1(-self.ratio)
        self.q = 1.0 - self.p
        self.cap = self.slots * self.ratio

    def _draw(self, t: int, mean: FloatArray, total: IntArray) -> IntArray:
        """Completions around ``mean`` with the binomial's spread, ``mean * (1 - p)`` (seeded)."""
        block, row = divmod(t, self.BLOCK)
        if block != self._block:
            self._noise = self.noise_block(block)
            self._block = block
        spread = np.sqrt(mean * self.q)
        drawn = np.floor(mean + spread * self._noise[row] + 0.5).astype(np.int64)
        # np.clip(drawn, 0, total), without np.clip's costly Python wrapper
        done: IntArray = np.minimum(np.maximum(drawn, 0), total)
        return done

    def step(self, t: int, arrivals: IntArray) -> None:
        if self.draining:
            self._step_draining(t, arrivals)
            return
        total = self.running + self.backlog + arrivals
        left = total - self._draw(t, np.minimum(total * self.p, self.cap), total)
        self.running = np.minimum(left, self.slots)
        self.backlog = left - self.running

    def _step_draining(self, t: int, arrivals: IntArray) -> None:
        total = self.running + self.backlog + arrivals
        over = np.maximum(self.running - self.slots, 0)
        done_over = self._draw(t, over * self.p, over)
        active = total - over
        done = self._draw(t, np.minimum(active * self.p, self.cap), active)
        left = total - done - done_over
        over_left = over - done_over
        self.running = over_left + np.minimum(left - over_left, self.slots)
        self.backlog = left - self.running
        self.draining = bool(over_left.any())


class DeterministicService(ServiceModel):
    def __init__(self, queues: int, step_s: float, *, max_service_s: float) -> None:
        super().__init__(queues, step_s)
        self.horizon = max(1, math.ceil(max_service_s / step_s)) + 2
        self.finishing = np.zeros((self.horizon, queues), dtype=np.int64)
        self.columns = np.arange(queues)
        self.per_slot = np.ones(queues)
        self.hold = np.ones(queues, dtype=np.int64)
        self.longer = np.zeros(queues)
        self.carry = np.zeros(queues)
        self.capacity = np.zeros(queues, dtype=np.int64)

    def set_slots(self, slots: IntArray) -> None:
        self.slots = slots.copy()
        self.capacity = np.floor(slots * self.per_slot).astype(np.int64)
        self.draining = bool((self.running > self.capacity).any())

    def set_service(self, service_s: FloatArray) -> None:
        self.per_slot = np.maximum(1.0, self.step_s / service_s)
        steps = np.maximum(service_s / self.step_s, 1.0)
        held = np.floor(steps)
        self.hold = np.clip(held.astype(np.int64), 1, self.horizon - 2)
        self.longer = steps - held
        self.capacity = np.floor(self.slots * self.per_slot).astype(np.int64)

    def busy(self) -> IntArray:
        # A slot runs ``per_slot`` short tasks per step; held at any instant: running / per_slot.
        held: IntArray = np.ceil(self.running / self.per_slot).astype(np.int64)
        return held

    def step(self, t: int, arrivals: IntArray) -> None:
        row = self.finishing[t % self.horizon]
        running = self.running - row
        row[:] = 0
        waiting = self.backlog + arrivals
        starts = np.minimum(waiting, np.maximum(self.capacity - running, 0))
        # a fraction ``longer`` of the tasks holds its slot one step more (1.2 s = 1 or 2 steps)
        self.carry += starts * self.longer
        late = np.floor(self.carry).astype(np.int64)
        self.carry -= late
        self.finishing[(t + self.hold) % self.horizon, self.columns] += starts - late
        self.finishing[(t + self.hold + 1) % self.horizon, self.columns] += late
        self.running = running + starts
        self.backlog = waiting - starts
        if self.draining:
            self.draining = bool((self.running > self.capacity).any())


def stream_key(queue: str) -> int:
    """The key of a queue's random stream: from its name alone, the same in every run."""
    return int.from_bytes(hashlib.blake2b(queue.encode(), digest_size=8).digest(), "big")


def make_service(
    kind: ServiceKind,
    *,
    queues: Sequence[str],
    step_s: float,
    seed: int,
    max_service_s: float,
) -> ServiceModel:
    if kind is ServiceKind.DETERMINISTIC:
        return DeterministicService(len(queues), step_s, max_service_s=max_service_s)
    keys = [stream_key(q) for q in queues]
    return ExponentialService(len(queues), step_s, seed=seed, keys=keys)
