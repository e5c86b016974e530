"""The scaling policy: a pure function of (observation, state, policy, now).

Steps, in order (each may set the reason of the decision):

1. targets: ``ceil((waiting + in_flight) / targetBacklogPerReplica)`` like an HPA
   ``AverageValue`` metric, and the replicas whose throughput drains the backlog within
   ``targetLatencySeconds`` while keeping up with arrivals; the larger wins.
2. zero: at zero, wake only when the backlog exceeds ``activationBacklog`` (or work is in
   flight); above zero, go to zero only when nothing waits or runs for ``cooldownSeconds``.
3. bounds: [minReplicas, maxReplicas] and the in-flight floor ``ceil(in_flight / concurrency)``
   (capped at maxReplicas: the maximum is a hard cap).
4. the HPA's ``behavior``: stabilization windows, then the scaleUp/scaleDown rate policies.
5. the invariants again, last: in-flight floor, never zero while work waits or runs (a queue
   at zero with a backlog within activationBacklog stays there: that is what the field is for),
   within [min, max].

A failed observation holds the replicas; after ``failureThreshold`` failures in a row it moves
to ``fallbackReplicas`` if set, never below the current replicas.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import NamedTuple

from scheduler.autoscaler.behavior import limit_rate, prune_events, stabilize
from scheduler.autoscaler.config import QueuePolicy
from scheduler.autoscaler.model import Decision, Observation, QueueState, Reason, ScaleEvent

MAX_SANE_REPLICAS = 1_000_000.0  # a bound for the arithmetic; maxReplicas caps the result

__all__ = ["backlog_replicas", "decide", "in_flight_floor", "latency_replicas"]


class _Step(NamedTuple):
    replicas: int
    reason: Reason
    detail: str


def decide(obs: Observation, state: QueueState, policy: QueuePolicy, now: float) -> Decision:
    """The replicas ``policy`` wants for ``obs`` at ``now``, the new state, and why."""
    if not policy.enabled:
        return Decision(obs.current_replicas, state, Reason.DISABLED, "autoscaling.enabled: false")
    if not obs.ok:
        return _on_failure(obs, state, policy, now)
    state = _remember(obs, state, policy, now)
    step = _targets(obs, state, policy)
    step = _zero_rules(step, obs, state, policy, now)
    step = _bounds(step, obs, policy)
    stabilized, recs = stabilize(
        step.replicas,
        obs.current_replicas,
        state.recommendations,
        up=policy.scale_up,
        down=policy.scale_down,
        now=now,
    )
    if stabilized != step.replicas:
        step = _Step(
            stabilized,
            Reason.STABILIZATION,
            f"{step.detail}; held at {stabilized} by the stabilization window",
        )
    events = prune_events(state.events, policy.scale_up, policy.scale_down, now)
    limited = limit_rate(
        step.replicas,
        obs.current_replicas,
        events,
        up=policy.scale_up,
        down=policy.scale_down,
        now=now,
    )
    if limited != step.replicas:
        way = "scaleUp" if step.replicas > obs.current_replicas else "scaleDown"
        step = _Step(limited, Reason.RATE_LIMITED, f"{step.detail}; {way} policies allow {limited}")
    step = _invariants(step, obs, policy)
    if step.replicas == obs.current_replicas and step.reason in (Reason.BACKLOG, Reason.LATENCY):
        step = step._replace(reason=Reason.STEADY)
    change = step.replicas - obs.current_replicas
    if change:
        events = (*events, ScaleEvent(at=now, change=change))
    new_state = QueueState(
        recommendations=recs,
        events=events,
        last_active_at=state.last_active_at,
        consecutive_failures=0,
        capacity_per_replica_per_s=state.capacity_per_replica_per_s,
    )
    return Decision(step.replicas, new_state, step.reason, step.detail)


def in_flight_floor(in_flight: int, policy: QueuePolicy) -> int:
    """Replicas the work in flight needs, capped at maxReplicas."""
    return min(math.ceil(in_flight / policy.concurrency), policy.max_replicas)


def backlog_replicas(obs: Observation, policy: QueuePolicy) -> int | None:
    target = policy.target_backlog_per_replica
    if target is None:
        return None
    return _ceil((obs.backlog + obs.in_flight) / target)


def latency_replicas(obs: Observation, state: QueueState, policy: QueuePolicy) -> int | None:
    """Replicas whose throughput drains the backlog within the target and keeps up with
    arrivals: ``(arrival_rate + backlog / targetLatencySeconds) / per-replica capacity``.

    Without a learnt capacity (no completions seen under load yet) it asks for what there is,
    at least one replica while work waits.
    """
    target = policy.target_latency_s
    if target is None:
        return None
    if obs.backlog == 0 and obs.in_flight == 0:
        return 0
    capacity = state.capacity_per_replica_per_s
    if not capacity:
        return max(obs.current_replicas, 1)
    needed = obs.arrival_rate_per_s + obs.backlog / target
    return max(_ceil(min(needed / capacity, MAX_SANE_REPLICAS)), 1)


def _ceil(value: float) -> int:
    return math.ceil(round(value, 9))


def _remember(obs: Observation, state: QueueState, policy: QueuePolicy, now: float) -> QueueState:
    working = obs.backlog > 0 or obs.in_flight > 0
    last_active = now if working or state.last_active_at is None else state.last_active_at
    capacity = state.capacity_per_replica_per_s
    if obs.current_replicas > 0 and obs.backlog > 0 and obs.completion_rate_per_s > 0:
        busy = min(max(math.ceil(obs.in_flight / policy.concurrency), 1), obs.current_replicas)
        capacity = obs.completion_rate_per_s / busy
    return QueueState(
        recommendations=state.recommendations,
        events=state.events,
        last_active_at=last_active,
        consecutive_failures=0,
        capacity_per_replica_per_s=capacity,
    )


def _targets(obs: Observation, state: QueueState, policy: QueuePolicy) -> _Step:
    by_backlog = backlog_replicas(obs, policy)
    by_latency = latency_replicas(obs, state, policy)
    work = f"waiting {obs.backlog} + in flight {obs.in_flight}"
    if by_latency is not None and (by_backlog is None or by_latency > by_backlog):
        rates = f"arrivals {obs.arrival_rate_per_s:.1f}/s"
        return _Step(
            by_latency,
            Reason.LATENCY,
            f"{work}, {rates}, within {policy.target_latency_s:g}s -> {by_latency}",
        )
    assert by_backlog is not None  # the config requires one target
    return _Step(
        by_backlog,
        Reason.BACKLOG,
        f"{work} over {policy.target_backlog_per_replica:g} per replica -> {by_backlog}",
    )


def _wakes(obs: Observation, policy: QueuePolicy) -> bool:
    late = (
        policy.target_latency_s is not None
        and obs.oldest_age_s is not None
        and obs.oldest_age_s >= policy.target_latency_s
    )
    return obs.in_flight > 0 or obs.backlog > policy.activation_backlog or late


def _zero_rules(
    step: _Step, obs: Observation, state: QueueState, policy: QueuePolicy, now: float
) -> _Step:
    if obs.current_replicas == 0:
        if not _wakes(obs, policy):
            return _Step(
                0,
                Reason.IDLE,
                f"waiting {obs.backlog} <= activationBacklog {policy.activation_backlog}",
            )
        if step.replicas <= 1:
            return _Step(1, Reason.ACTIVATION, f"{step.detail}; waking from zero")
        return step
    if step.replicas > 0:
        return step
    idle_s = now - (state.last_active_at if state.last_active_at is not None else now)
    if idle_s < policy.cooldown_s:
        return _Step(
            1, Reason.COOLDOWN, f"idle {idle_s:.0f}s < cooldownSeconds {policy.cooldown_s:g}"
        )
    return _Step(
        0, Reason.SCALE_TO_ZERO, f"idle {idle_s:.0f}s >= cooldownSeconds {policy.cooldown_s:g}"
    )


def _bounds(step: _Step, obs: Observation, policy: QueuePolicy) -> _Step:
    floor = in_flight_floor(obs.in_flight, policy)
    if step.replicas > policy.max_replicas:
        return _Step(
            policy.max_replicas,
            Reason.MAX_REPLICAS,
            f"{step.detail}; capped at maxReplicas {policy.max_replicas}",
        )
    if step.replicas < floor:
        return _Step(
            floor, Reason.IN_FLIGHT_FLOOR, f"{step.detail}; in flight {obs.in_flight} needs {floor}"
        )
    if step.replicas < policy.min_replicas:
        return _Step(
            policy.min_replicas,
            Reason.MIN_REPLICAS,
            f"{step.detail}; raised to minReplicas {policy.min_replicas}",
        )
    return step


def _invariants(step: _Step, obs: Observation, policy: QueuePolicy) -> _Step:
    """The rules that hold whatever the settings, applied after the behavior."""
    floor = in_flight_floor(obs.in_flight, policy)
    if step.replicas < floor:
        step = _Step(
            floor, Reason.IN_FLIGHT_FLOOR, f"{step.detail}; in flight {obs.in_flight} needs {floor}"
        )
    if step.replicas == 0 and obs.current_replicas == 0 and _wakes(obs, policy):
        step = _Step(1, Reason.ACTIVATION, f"{step.detail}; waking from zero")
    elif step.replicas == 0 and (obs.backlog > 0 or obs.in_flight > 0) and obs.current_replicas:
        step = _Step(1, Reason.WORK_WAITING, f"{step.detail}; work waits, keeping one replica")
    if step.replicas > policy.max_replicas:
        step = _Step(
            policy.max_replicas,
            Reason.MAX_REPLICAS,
            f"{step.detail}; capped at maxReplicas {policy.max_replicas}",
        )
    if step.replicas < policy.min_replicas:
        step = _Step(
            policy.min_replicas,
            Reason.MIN_REPLICAS,
            f"{step.detail}; raised to minReplicas {policy.min_replicas}",
        )
    return step


def _on_failure(obs: Observation, state: QueueState, policy: QueuePolicy, now: float) -> Decision:
    state = replace(state.with_failure(), last_active_at=now)
    failures = state.consecutive_failures
    current = obs.current_replicas
    fallback = policy.fallback_replicas
    if fallback is not None and failures >= policy.failure_threshold and fallback > current:
        desired, reason = fallback, Reason.FALLBACK
        detail = f"{failures} failed observations >= failureThreshold {policy.failure_threshold}"
    else:
        desired, reason = current, Reason.OBSERVATION_FAILED
        detail = f"{failures} failed observation(s) in a row: holding {current}"
    desired = min(max(desired, policy.min_replicas), policy.max_replicas)
    if desired != current:
        state = replace(state, events=(*state.events, ScaleEvent(at=now, change=desired - current)))
    return Decision(desired, state, reason, detail)
