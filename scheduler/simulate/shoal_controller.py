"""The ``shoal`` policy under simulation: the autoscaler's own ``decide``, fed like the real one.

Each poll builds, per queue, what the Redis source would return (backlog over all the queue's
lists, in flight from the workers' accounting, the oldest waiting task's age from its
``published_at`` header, and the arrival and completion rates smoothed by the source's own
``update_rates``), turns it into an ``Observation`` with the Deployment's replicas exactly as
``Observation.of`` does, and calls ``decide`` with the queue's ``QueuePolicy`` at the simulated
time.

Quiet polls are skipped, with the same result: once ``decide`` has answered a queue with
nothing waiting, nothing in flight and nothing completed since the last poll, the policy's own
``quiet_until`` says how long that answer stands while the queue stays so. Those polls are
counted, not computed; when the queue wakes (or the time is up), ``quiet_samples`` and
``carry_quiet`` bring its rates and state to where asking at every poll would have left them,
and ``decide`` is asked again. A day of 50 queues spends most of its polls idle or cooling
down; ``skip_quiet=False`` asks at every poll (the tests compare both).
"""

from __future__ import annotations

import math

import numpy as np

from scheduler.autoscaler.config import QueuePolicy
from scheduler.autoscaler.model import Observation, QueueState, Reason
from scheduler.autoscaler.policy import carry_quiet, decide, quiet_until
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
        skip_quiet: bool = True,
    ) -> None:
        self.name = "shoal"
        self.poll_interval_s = poll_interval_s
        self.policies = policies
        self.half_life_s = rate_half_life_s
        self.skip_quiet = skip_quiet
        count = len(policies)
        self.states = [QueueState.initial() for _ in policies]
        self.rates = [RateState() for _ in policies]
        self._reasons: list[dict[str, int]] = [{} for _ in policies]
        self._polls: list[float] = []
        """Every poll's time, to replay the quiet ones a queue skipped."""
        self._quiet_until = np.full(count, -math.inf)
        self._skipped = np.zeros(count, dtype=np.int64)
        """Quiet polls skipped in a row, per queue."""
        self._held: list[Reason] = [Reason.IDLE for _ in policies]
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
            reason = self._held[q].value
            out[q][reason] = out[q].get(reason, 0) + int(self._skipped[q])
        return out

    def poll(self, view: View) -> IntArray:
        now = view.now_s
        self._polls.append(now)
        quiet = (view.backlog == 0) & (view.in_flight == 0) & (view.completed == self._completed)
        quiet &= view.replicas == self._desired
        self._completed = view.completed.copy()
        if self.skip_quiet:
            skip = quiet & (now < self._quiet_until)
            self._skipped[skip] += 1
            asked = np.flatnonzero(~skip).tolist()
        else:
            asked = list(range(len(self.policies)))
        backlog = view.backlog.tolist()
        in_flight = view.in_flight.tolist()
        completed = view.completed.tolist()
        ages = view.oldest_age_s.tolist()
        replicas = view.replicas.tolist()
        quiet_now = quiet.tolist()
        for q in asked:
            if self._skipped[q]:
                self._wake(q)
            policy = self.policies[q]
            rates = update_rates(
                self.rates[q],
                at=now,
                backlog=backlog[q],
                in_flight=in_flight[q],
                completed=completed[q],
                half_life_s=self.half_life_s,
            )
            self.rates[q] = rates
            obs = Observation(
                backlog[q],
                in_flight[q],
                ages[q] if backlog[q] else None,
                rates.arrival_per_s,
                rates.completion_per_s,
                replicas[q],
            )
            decision = decide(obs, self.states[q], policy, now)
            self.asked += 1
            self.states[q] = decision.state
            self._desired[q] = decision.desired
            self._count(q, decision.reason.value, 1)
            if quiet_now[q]:
                self._quiet_until[q] = quiet_until(obs, decision, policy)
                self._held[q] = decision.reason
            else:
                self._quiet_until[q] = -math.inf
        return self._desired.copy()

    def _wake(self, q: int) -> None:
        """Replay the quiet polls ``q`` skipped: their reasons, rates and state."""
        skipped = int(self._skipped[q])
        times = self._polls[-1 - skipped : -1]
        self._count(q, self._held[q].value, skipped)
        self.rates[q] = quiet_samples(self.rates[q], times, half_life_s=self.half_life_s)
        self.states[q] = carry_quiet(self.states[q], times[-1])
        self._skipped[q] = 0

    def _count(self, q: int, reason: str, times: int) -> None:
        counts = self._reasons[q]
        counts[reason] = counts.get(reason, 0) + times
