"""The ``shoal`` policy under simulation: the autoscaler's own ``decide``, fed like the real one.

Each poll builds, per queue, what the Redis source would return (backlog over all the queue's
lists, in flight from the workers' accounting, the oldest waiting task's age from its
``published_at`` header, and the arrival and completion rates smoothed by the source's own
``update_rates``), turns it into an ``Observation`` with the Deployment's replicas exactly as
``Observation.of`` does, and calls ``decide`` with the queue's ``QueuePolicy`` at the simulated
time.

Two shortcuts keep a day of 50 queues within seconds, each with the same result:

- Quiet polls are skipped. Once ``decide`` has answered a queue with nothing waiting and
  nothing in flight, the policy's own ``quiet_until`` says how long that answer stands while
  the queue stays so. Those polls are counted, not asked; when the queue wakes (or the time is
  up), ``carry_quiet`` brings its state to where asking at every poll would have left it.
- The rates are tracked only for queues whose answers read them (``reads_rates``: a
  ``targetLatencySeconds``); the others are observed with rates 0. For tracked queues a
  skipped poll is still sampled, at once when tasks completed since the last poll, and a run
  of polls in which nothing did in one ``quiet_samples`` call.

``shortcuts=False`` asks at every poll and tracks every queue's rates (the tests compare both).
"""

from __future__ import annotations

import math

import numpy as np

from scheduler.autoscaler.config import QueuePolicy
from scheduler.autoscaler.model import Observation, QueueState, Reason
from scheduler.autoscaler.policy import carry_quiet, decide, quiet_until, reads_rates
from scheduler.autoscaler.rates import RateState, quiet_samples, update_rates
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
    ) -> None:
        self.name = "shoal"
        self.poll_interval_s = poll_interval_s
        self.policies = policies
        self.half_life_s = rate_half_life_s
        self.shortcuts = shortcuts
        count = len(policies)
        self.states = [QueueState.initial() for _ in policies]
        self.rates = [RateState() for _ in policies]
        self._reasons: list[dict[str, int]] = [{} for _ in policies]
        self._polls: list[float] = []
        """Every poll's time, to replay the quiet ones a queue skipped."""
        self._quiet_until = np.full(count, -math.inf)
        self._skipped = np.zeros(count, dtype=np.int64)
        """Quiet polls skipped in a row, per queue."""
        self._unsampled = np.zeros(count, dtype=np.int64)
        """The last of those in which nothing completed either: their rate samples wait for
        ``quiet_samples`` (one call when the queue is next sampled)."""
        self._held: list[Reason] = [Reason.IDLE for _ in policies]
        self._rated = np.array([reads_rates(p) or not shortcuts for p in policies], dtype=bool)
        """Queues whose answers depend on the rates; the others are observed with rates 0."""
        self._desired = np.zeros(count, dtype=np.int64)
        self._completed = np.full(count, -1, dtype=np.int64)
        self.asked = 0
        """How many times ``decide`` was asked (the rest of the queue-polls were skipped)."""

    def initial_replicas(self) -> IntArray:
        return np.array([p.min_replicas for p in self.policies], dtype=np.int64)

    def reasons(self) -> list[dict[str, int]]:
        """Decisions per reason, the skipped quiet polls counted with the answer they kept."""
        out = [dict(counts) for counts in self._reasons]
        for q in np.flatnonzero(self._skipped).tolist():
            reason = self._held[q]
            out[q][reason] = out[q].get(reason, 0) + int(self._skipped[q])
        return out

    def poll(self, view: View) -> IntArray:
        now = view.now_s
        self._polls.append(now)
        backlog, in_flight, completed = view.backlog, view.in_flight, view.completed
        quiet = (backlog == 0) & (in_flight == 0) & (view.replicas == self._desired)
        finished = completed != self._completed
        self._completed = completed.copy()
        if self.shortcuts:
            skip = quiet & (now < self._quiet_until)
            self._skipped[skip] += 1
            skip_rated = skip & self._rated
            self._unsampled[skip_rated & ~finished] += 1
            for q in np.flatnonzero(skip_rated & finished).tolist():
                self._sample(q, now, 0, 0, int(completed[q]))
            asked = np.flatnonzero(~skip).tolist()
        else:
            asked = list(range(len(self.policies)))
        if asked:
            self._ask(asked, view, quiet.tolist())
        return self._desired.copy()

    def _ask(self, asked: list[int], view: View, quiet: list[bool]) -> None:
        now = view.now_s
        backlog = view.backlog.tolist()
        in_flight = view.in_flight.tolist()
        completed = view.completed.tolist()
        ages = view.oldest_age_s.tolist()
        replicas = view.replicas.tolist()
        rated = self._rated.tolist()
        for q in asked:
            if self._skipped[q]:
                self._wake(q)
            arrival = completion = 0.0
            if rated[q]:
                rates = self._sample(q, now, backlog[q], in_flight[q], completed[q])
                arrival, completion = rates.arrival_per_s, rates.completion_per_s
            obs = Observation(
                backlog[q],
                in_flight[q],
                ages[q] if backlog[q] else None,
                arrival,
                completion,
                replicas[q],
            )
            policy = self.policies[q]
            decision = decide(obs, self.states[q], policy, now)
            self.asked += 1
            self.states[q] = decision.state
            self._desired[q] = decision.desired
            counts = self._reasons[q]
            counts[decision.reason] = counts.get(decision.reason, 0) + 1
            if quiet[q]:
                self._quiet_until[q] = quiet_until(obs, decision, policy)
                self._held[q] = decision.reason
            else:
                self._quiet_until[q] = -math.inf

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
        """Count the quiet polls ``q`` skipped and bring its state to the last of them."""
        skipped = int(self._skipped[q])
        counts = self._reasons[q]
        held = self._held[q]
        counts[held] = counts.get(held, 0) + skipped
        self.states[q] = carry_quiet(self.states[q], self._polls[-2])
        self._skipped[q] = 0
