"""What the policy vouches for between polls: while a queue stays inside a :class:`Hold`,
``decide`` answers as it just did. Pure.

The simulator asks ``decide`` for 50 queues at every 2 s poll of a day; most of those answers
are foregone. A hold is the policy's own statement of when they are, so the simulator can
count those polls instead of asking, and :func:`carry` brings the queue's state to where
asking every time would have left it. Two kinds:

- quiet: nothing waits and nothing is in flight, and the answer kept the replicas there are.
  With no work the answer depends on the time only, and only through the end of the cooldown
  (above zero) and a kept recommendation leaving its stabilization window: the hold ends at
  the first of those.
- steady: work waits or runs, ``targetBacklogPerReplica`` (a whole number, no latency target)
  asked exactly the replicas there are, and nothing else stepped in (reason ``steady``). Any
  waiting-plus-in-flight count that gives the same ``ceil(work / target)``, with in flight
  within what those replicas hold, gets the same answer, at any time: a raw recommendation
  equal to the current replicas passes the stabilization windows and the rate policies
  unchanged.

Delayed tasks: neither kind covers an observation whose first delayed task is due within the
wake lead (that answer wakes the queue, or keeps a replica for it, and counts as activity), nor
one with tasks held in workers' records; a delayed task due later changes no answer. A hold
assumes the same ``next_look_in_s`` in the observations it covers (the poll interval).

Both assume the observation's rates are not read (:func:`reads_rates`) or, for quiet holds,
that nothing arrives: the only state that then differs from asking every time is the
capacity learnt from completion rates, which only ``targetLatencySeconds`` reads; the simulator
observes such queues with rates 0, so it learns none. The tests hold ``decide`` to all of this.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from scheduler.autoscaler.behavior import stabilize
from scheduler.autoscaler.model import (
    Decision,
    Observation,
    QueueState,
    Reason,
)
from scheduler.autoscaler.policy import due_soon, wake_lead_s, wakes
from scheduler.autoscaler.rules import QueuePolicy

__all__ = ["NO_HOLD", "Hold", "carry", "hold", "reads_rates"]

_ANY = 2**62


class Hold(NamedTuple):
    """The observations ``decide`` answers as it just did (with the replicas it kept)."""

    work_min: int
    """Tasks waiting plus in flight, at least..."""
    work_max: int
    """...and at most."""
    in_flight_max: int
    until: float
    """Before this time (the clock of ``decide``'s ``now``)..."""
    idle_for_s: float
    """...and less than this long after the last observation with work (inf: any time)."""
    busy: Reason
    """The answer's reason for an observation with work."""
    idle: Reason
    """The answer's reason for one without."""
    due_beyond_s: float
    """Only observations whose first delayed task is due more than this many seconds ahead
    (or that have none); -inf: whatever is delayed."""


NO_HOLD = Hold(1, 0, 0, -math.inf, math.inf, Reason.STEADY, Reason.IDLE, math.inf)


def reads_rates(policy: QueuePolicy) -> bool:
    """Whether ``decide`` reads the arrival and completion rates for this queue: only
    ``targetLatencySeconds`` sizes by them (and by the capacity learnt from them). Without it
    the answers are the same whatever the rates say."""
    return policy.target_latency_s is not None


def hold(obs: Observation, decision: Decision, policy: QueuePolicy) -> Hold:
    """The hold of ``decision``, just given for ``obs``; :data:`NO_HOLD` when there is none."""
    current = obs.current_replicas
    if not policy.enabled or not obs.ok or decision.desired != current:
        return NO_HOLD
    if obs.held_live or obs.held_dead or due_soon(obs, policy):
        return NO_HOLD
    lead = wake_lead_s(obs, policy)
    per_replica = _whole_target(policy)
    one = per_replica and current == 1 and policy.min_replicas <= 1
    if obs.backlog == 0 and obs.in_flight == 0:
        until = _quiet_until(obs, decision, policy)
        if until == -math.inf:
            return NO_HOLD
        if one and decision.reason is Reason.COOLDOWN:
            return _one_replica(per_replica, policy, lead)
        return Hold(0, 0, 0, until, math.inf, Reason.STEADY, decision.reason, lead)
    if not per_replica or decision.reason is not Reason.STEADY:
        return NO_HOLD
    if one and policy.cooldown_s > 0:
        return _one_replica(per_replica, policy, lead)
    most = current * policy.concurrency if current < policy.max_replicas else _ANY
    work = ((current - 1) * per_replica + 1, current * per_replica)
    return Hold(*work, most, math.inf, math.inf, Reason.STEADY, Reason.STEADY, -math.inf)


def carry(
    state: QueueState, policy: QueuePolicy, at: float, last_active_at: float | None
) -> QueueState:
    """The state ``decide`` would have returned had it answered every poll up to ``at`` inside
    a hold: the same raw recommendation dated ``at``, the older ones that left their windows
    by then dropped, and the last activity as the caller saw it (the last poll with work).
    (Scale events that aged out are pruned by the next call, as they would have been.)"""
    highs = state.recommendations.highs
    if not highs:
        return state
    raw = highs[-1].replicas  # the latest raw recommendation, the same at every poll held
    _, recent = stabilize(
        raw, raw, state.recommendations, up=policy.scale_up, down=policy.scale_down, now=at
    )
    return state._replace(recommendations=recent, last_active_at=last_active_at)


def _whole_target(policy: QueuePolicy) -> int:
    """targetBacklogPerReplica when it alone sizes the queue, in whole tasks; else 0."""
    target = policy.target_backlog_per_replica
    if target is None or reads_rates(policy) or int(target) != target:
        return 0
    return int(target)


def _one_replica(per_replica: int, policy: QueuePolicy, lead: float) -> Hold:
    """One replica, cooling down or busy: up to ``per_replica`` tasks ask for one (steady),
    none keeps it for the cooldown after the last work; either way one, and a recommendation
    equal to the replicas passes the behaviour unchanged."""
    most = policy.concurrency if policy.max_replicas > 1 else _ANY
    cooldown = policy.cooldown_s
    return Hold(0, per_replica, most, math.inf, cooldown, Reason.STEADY, Reason.COOLDOWN, lead)


def _quiet_until(obs: Observation, decision: Decision, policy: QueuePolicy) -> float:
    state = decision.state
    last_active = state.last_active_at
    highs, lows = state.recommendations
    if (
        decision.reason is Reason.RATE_LIMITED  # it lifts as scale events age
        or wakes(obs, policy)
        or last_active is None
        or not highs
    ):
        return -math.inf
    until = math.inf
    cooled_at = last_active + policy.cooldown_s
    if obs.current_replicas > 0 and cooled_at > highs[-1].at:  # the latest is dated now
        until = cooled_at
    if decision.reason is not Reason.STABILIZATION:
        return until  # the answer is the raw recommendation: no window can move it
    down_s = policy.scale_down.stabilization_window_s
    for rec in highs[:-1]:
        until = min(until, rec.at + down_s)
    up_s = policy.scale_up.stabilization_window_s
    for rec in lows[:-1]:
        until = min(until, rec.at + up_s)
    return until
