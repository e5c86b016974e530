"""The ``shoal`` policy under simulation: the autoscaler's own ``decide``, fed like the real one.

Each poll builds, per queue, what the Redis source would return (backlog over all the queue's
lists, in flight from the workers' accounting, the oldest waiting task's age from its
``published_at`` header, the delayed tasks and when the first is due, and the arrival and
completion rates smoothed by the source's own ``update_rates``), turns it into an
``Observation`` with the Deployment's replicas and the poll interval as the next look exactly
as ``Observation.of`` does, and calls ``decide`` with the queue's ``QueuePolicy`` at the
simulated time. (Workers never die in the simulator: nothing is held by dead workers.)

Two shortcuts keep a day of 50 queues within seconds, each with the same result:

- Polls whose answer the policy vouches for are skipped. After each answer, the policy's own
  :func:`~scheduler.autoscaler.hold.hold` says which observations would get the same one
  (quiet: nothing waiting or in flight, until a cooldown ends or a recommendation leaves its
  window; steady: any work that ``targetBacklogPerReplica`` sizes to the same replicas). Polls
  inside the hold are counted, not asked; when the queue leaves it, ``carry`` brings its
  state to where asking at every poll would have left it, and ``decide`` is asked again.
- The rates are tracked only for queues whose answers read them (``reads_rates``: a
  ``targetLatencySeconds``; those get quiet holds only); the others are observed with rates 0.
  For tracked queues a skipped poll is still sampled, at once when tasks completed since the
  last poll, and a run of polls in which nothing did in one ``quiet_samples`` call.

``shortcuts=False`` asks at every poll and tracks every queue's rates (the tests compare both).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from scheduler.autoscaler.hold import NO_HOLD, Hold, carry, hold, reads_rates
from scheduler.autoscaler.model import Observation, QueueState
from scheduler.autoscaler.policy import decide
from scheduler.autoscaler.rates import RateState, quiet_samples, update_rates
from scheduler.autoscaler.rules import QueuePolicy
from scheduler.simulate.controllers import IntArray, View

RATE_HALF_LIFE_S = 10.0
"""The Redis source's default smoothing of the rates."""


class ShoalController:
    def __init__(
        self,
        policies: list[QueuePolicy],
        *,
        poll_interval_s: float,
        rate_half_life_s: float = RATE_HALF_LIFE_S,
        shortcuts: bool = True,
        start_replicas: list[int] | None = None,
    ) -> None:
        self.name = "shoal"
        self.poll_interval_s = poll_interval_s
        self.policies = policies
        self.half_life_s = rate_half_life_s
        self.shortcuts = shortcuts
        self.start_replicas = start_replicas or [p.min_replicas for p in policies]
        """Each queue's replicas at the start: ``minReplicas``, or a fixed queue's replicas
        (its policy has ``enabled: false``, so ``decide`` keeps them)."""
        count = len(policies)
        self.states = [QueueState.initial() for _ in policies]
        self.rates = [RateState() for _ in policies]
        self._reasons: list[dict[str, int]] = [{} for _ in policies]
        self._polls: list[float] = []
        """Every poll's time, to replay the ones a queue skipped."""
        self._holds = [NO_HOLD for _ in policies]
        self._work_min = np.ones(count, dtype=np.int64)
        self._work_max = np.zeros(count, dtype=np.int64)
        self._in_flight_max = np.zeros(count, dtype=np.int64)
        self._until = np.full(count, -math.inf)
        self._idle_for_s = np.full(count, math.inf)
        self._due_beyond_s = np.full(count, math.inf)
        """The holds of the queues' last answers, as vectors to test every queue at once."""
        self._last_work = np.zeros(count)
        """When each queue last had work waiting or in flight (``decide``'s last activity)."""
        self._skipped_busy = np.zeros(count, dtype=np.int64)
        self._skipped_idle = np.zeros(count, dtype=np.int64)
        """Polls skipped since the last answer, with and without work."""
        self._unsampled = np.zeros(count, dtype=np.int64)
        """The last of those in which nothing completed either: their rate samples wait for
        ``quiet_samples`` (one call when the queue is next sampled)."""
        self._rated = np.array([reads_rates(p) or not shortcuts for p in policies], dtype=bool)
        """Queues whose answers depend on the rates; the others are observed with rates 0."""
        self._rated_list: list[bool] = self._rated.tolist()
        self._any_rated = bool(self._rated.any())
        self._desired = np.zeros(count, dtype=np.int64)
        self._completed = np.full(count, -1, dtype=np.int64)
        self.asked = 0
        """How many times ``decide`` was asked (the rest of the queue-polls were skipped)."""

    def initial_replicas(self) -> IntArray:
        return np.array(self.start_replicas, dtype=np.int64)

    def reasons(self) -> list[dict[str, int]]:
        """Decisions per reason, the skipped polls counted with the answer they kept."""
        out = [dict(counts) for counts in self._reasons]
        for q, counts in enumerate(out):
            _count(counts, self._holds[q], self._skipped_busy[q], self._skipped_idle[q])
        return out

    def poll(self, view: View) -> IntArray:
        now = view.now_s
        self._polls.append(now)
        if not self.shortcuts:
            self._ask(list(range(len(self.policies))), view)
            return self._desired.copy()
        work = view.backlog + view.in_flight
        skip = (view.replicas == self._desired) & (now < self._until)
        skip &= (work >= self._work_min) & (work <= self._work_max)
        skip &= view.in_flight <= self._in_flight_max
        skip &= view.next_due_s - now > self._due_beyond_s  # inf - now: nothing delayed
        busy = work > 0
        with np.errstate(invalid="ignore"):  # never active (-inf) + NO_HOLD's inf: no skip
            skip &= busy | (now < self._last_work + self._idle_for_s)
        skip_busy = skip & busy
        self._skipped_busy[skip_busy] += 1
        self._last_work[skip_busy] = now
        self._skipped_idle[skip & ~busy] += 1
        if self._any_rated:
            self._sample_skipped(skip & self._rated, view)  # quiet holds only: nothing waits
        asked = (~skip).nonzero()[0].tolist()
        if asked:
            self._ask(asked, view)
        return self._desired.copy()

    def _sample_skipped(self, skipped: npt.NDArray[np.bool_], view: View) -> None:
        """Rate samples for skipped polls of queues that read rates: at once where tasks
        completed since the last poll, later (in one ``quiet_samples`` call) where none did."""
        completed = view.completed
        finished = completed != self._completed
        self._completed = completed.copy()
        self._unsampled[skipped & ~finished] += 1
        for q in (skipped & finished).nonzero()[0].tolist():
            self._sample(q, view.now_s, 0, 0, int(completed[q]))

    def _ask(self, asked: list[int], view: View) -> None:
        now = view.now_s
        for q in asked:  # usually a few of the queues: read item by item
            if self._skipped_busy[q] or self._skipped_idle[q]:
                self._wake(q)
            backlog = view.backlog.item(q)
            in_flight = view.in_flight.item(q)
            arrival = completion = 0.0
            if self._rated_list[q]:
                rates = self._sample(q, now, backlog, in_flight, view.completed.item(q))
                arrival, completion = rates.arrival_per_s, rates.completion_per_s
            due = view.next_due_s.item(q)
            obs = Observation(
                backlog,
                in_flight,
                view.oldest_age_s.item(q) if backlog else None,
                arrival,
                completion,
                view.replicas.item(q),
                True,
                0,
                0,
                view.delayed.item(q),
                None if due == math.inf else due - now,
                self.poll_interval_s,
            )
            policy = self.policies[q]
            decision = decide(obs, self.states[q], policy, now)
            self.asked += 1
            self.states[q] = decision.state
            self._desired[q] = decision.desired
            counts = self._reasons[q]
            counts[decision.reason] = counts.get(decision.reason, 0) + 1
            if self.shortcuts:
                self._hold(q, hold(obs, decision, policy), decision.state.last_active_at)

    def _hold(self, q: int, held: Hold, last_active_at: float | None) -> None:
        self._holds[q] = held
        self._work_min[q] = held.work_min
        self._work_max[q] = held.work_max
        self._in_flight_max[q] = held.in_flight_max
        self._until[q] = held.until
        self._idle_for_s[q] = held.idle_for_s
        self._due_beyond_s[q] = held.due_beyond_s
        self._last_work[q] = -math.inf if last_active_at is None else last_active_at

    def _sample(self, q: int, now: float, backlog: int, in_flight: int, done: int) -> RateState:
        """The source's rates for ``q`` after this poll (and the quiet ones not sampled yet)."""
        rates = self.rates[q]
        pending = int(self._unsampled[q])
        if pending:
            times = self._polls[-1 - pending : -1]
            rates = quiet_samples(rates, times, half_life_s=self.half_life_s)
            self._unsampled[q] = 0
        rates = update_rates(
            rates,
            at=now,
            backlog=backlog,
            in_flight=in_flight,
            completed=done,
            half_life_s=self.half_life_s,
        )
        self.rates[q] = rates
        return rates

    def _wake(self, q: int) -> None:
        """Count the polls ``q`` skipped and bring its state to the last of them."""
        _count(self._reasons[q], self._holds[q], self._skipped_busy[q], self._skipped_idle[q])
        at, last_active = self._polls[-2], float(self._last_work[q])
        self.states[q] = carry(self.states[q], self.policies[q], at, last_active)
        self._skipped_busy[q] = self._skipped_idle[q] = 0


def _count(counts: dict[str, int], held: Hold, busy: np.int64, idle: np.int64) -> None:
    """Add the polls skipped inside ``held`` to ``counts`` by the reason each would have had."""
    for reason, polls in ((held.busy, int(busy)), (held.idle, int(idle))):
        if polls:
            counts[reason] = counts.get(reason, 0) + polls
