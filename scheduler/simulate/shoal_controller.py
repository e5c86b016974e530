"""The ``shoal`` policy under simulation: the autoscaler's own ``decide``, fed like the real one.

Each poll builds, per queue, the :class:`~scheduler.autoscaler.model.Reading` the Redis source
would return (backlog over all the queue's lists, in flight from the workers' accounting, the
oldest waiting task's age from its ``published_at`` header, and the arrival and completion
rates smoothed by the source's own ``update_rates``), turns it into an ``Observation`` with the
Deployment's replicas exactly as the controller does, and calls ``decide`` with the queue's
``QueuePolicy`` at the simulated time.
"""

from __future__ import annotations

import numpy as np

from scheduler.autoscaler.config import QueuePolicy
from scheduler.autoscaler.model import Observation, QueueState, Reading
from scheduler.autoscaler.policy import decide
from scheduler.autoscaler.rates import RateState, update_rates
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
    ) -> None:
        self.name = "shoal"
        self.poll_interval_s = poll_interval_s
        self.policies = policies
        self.half_life_s = rate_half_life_s
        self.states = [QueueState.initial() for _ in policies]
        self.rates = [RateState() for _ in policies]
        self._reasons: list[dict[str, int]] = [{} for _ in policies]
        self.last_detail: list[str] = ["" for _ in policies]

    def initial_replicas(self) -> IntArray:
        return np.array([p.min_replicas for p in self.policies], dtype=np.int64)

    def reasons(self) -> list[dict[str, int]]:
        return self._reasons

    def poll(self, view: View) -> IntArray:
        now = view.now_s
        backlog = view.backlog.tolist()
        in_flight = view.in_flight.tolist()
        completed = view.completed.tolist()
        ages = view.oldest_age_s.tolist()
        replicas = view.replicas.tolist()
        desired = view.replicas.copy()
        for i, policy in enumerate(self.policies):
            rates = update_rates(
                self.rates[i],
                at=now,
                backlog=backlog[i],
                in_flight=in_flight[i],
                completed=completed[i],
                half_life_s=self.half_life_s,
            )
            self.rates[i] = rates
            reading = Reading(
                backlog=backlog[i],
                in_flight=in_flight[i],
                oldest_age_s=ages[i] if backlog[i] else None,
                arrival_rate_per_s=rates.arrival_per_s,
                completion_rate_per_s=rates.completion_per_s,
            )
            decision = decide(Observation.of(reading, replicas[i]), self.states[i], policy, now)
            self.states[i] = decision.state
            desired[i] = decision.desired
            counts = self._reasons[i]
            reason = decision.reason.value
            counts[reason] = counts.get(reason, 0) + 1
        return desired
