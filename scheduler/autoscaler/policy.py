"""The scaling policy: a pure function of (observation, state, policy, now).

Steps, in order (each may set the reason of the decision):

1. targets: ``ceil((waiting + in_flight + held_dead) / targetBacklogPerReplica)`` like an HPA
   ``AverageValue`` metric, and the replicas whose throughput drains the backlog within
   ``targetLatencySeconds`` while keeping up with arrivals; the larger wins. Tasks held by dead
   workers are back in the queue within seconds: they count as waiting.
2. zero: at zero, wake only when the backlog (with the tasks of dead workers) exceeds
   ``activationBacklog``, work is in flight or held, or the first delayed task is due within
   the wake lead (``podStartupSeconds`` plus the time until the next decision); above zero, go
   to zero only when nothing waits, runs or is due within the lead for ``cooldownSeconds``.
   Delayed tasks due later are no work: a queue with only those may go to zero.
3. bounds: [minReplicas, maxReplicas] and the in-flight floor ``ceil(in_flight / concurrency)``
   (capped at maxReplicas: the maximum is a hard cap).
4. the HPA's ``behavior``: stabilization windows, then the scaleUp/scaleDown rate policies.
5. the invariants again, last: in-flight floor, never zero while work waits, runs, is held (by
   live or dead workers) or is due within the lead (a queue at zero with a backlog within
   activationBacklog stays there: that is what the field is for), within [min, max].

A failed observation holds the replicas; after ``failureThreshold`` failures in a row it moves
to ``fallbackReplicas`` if set, never below the current replicas.

The controller calls ``decide`` for every queue at every poll and the simulator millions of
times a run, so the steps pass plain ``(replicas, reason, notes)`` triples and the explanation
stays unformatted (:class:`~scheduler.autoscaler.model.Note`) until someone reads it.
"""

from __future__ import annotations

import math

from scheduler.autoscaler.behavior import limit_rate, prune_events, stabilize
from scheduler.autoscaler.model import (
    Decision,
    Note,
    Observation,
    QueueState,
    Reason,
    ScaleEvent,
)
from scheduler.autoscaler.rules import QueuePolicy

MAX_SANE_REPLICAS = 1_000_000.0  # a bound for the arithmetic; maxReplicas caps the result

__all__ = [
    "backlog_replicas",
    "decide",
    "due_soon",
    "in_flight_floor",
    "latency_replicas",
    "wake_lead_s",
    "wakes",
]

_Step = tuple[int, Reason, tuple[Note, ...]]

_DISABLED = (("autoscaling.enabled: false", ()),)
_STEADY_REASONS = (Reason.BACKLOG, Reason.LATENCY)


def decide(obs: Observation, state: QueueState, policy: QueuePolicy, now: float) -> Decision:
    """The replicas ``policy`` wants for ``obs`` at ``now``, the new state, and why."""
    if not policy.enabled:
        return Decision(obs.current_replicas, state, Reason.DISABLED, _DISABLED)
    if not obs.ok:
        return _on_failure(obs, state, policy, now)
    current = obs.current_replicas
    last_active = state.last_active_at
    soon = obs.next_due_in_s is not None and due_soon(obs, policy)
    if _holds_work(obs) or soon or last_active is None:
        last_active = now
    capacity = _capacity(obs, state.capacity_per_replica_per_s, policy)
    step = _targets(obs, capacity, policy)
    step = _zero_rules(step, obs, now - last_active, policy, soon)
    floor = in_flight_floor(obs.in_flight, policy) if obs.in_flight else 0
    replicas, reason, notes = _bounds(step, obs, floor, policy)
    stabilized, recs = stabilize(
        replicas,
        current,
        state.recommendations,
        up=policy.scale_up,
        down=policy.scale_down,
        now=now,
    )
    if stabilized != replicas:
        replicas, reason = stabilized, Reason.STABILIZATION
        notes = (*notes, ("held at %d by the stabilization window", (stabilized,)))
    events = state.events
    if events:
        events = prune_events(events, policy.scale_up, policy.scale_down, now)
    if replicas != current:
        limited = limit_rate(
            replicas, current, events, up=policy.scale_up, down=policy.scale_down, now=now
        )
        if limited != replicas:
            way = "scaleUp" if replicas > current else "scaleDown"
            notes = (*notes, ("%s policies allow %d", (way, limited)))
            replicas, reason = limited, Reason.RATE_LIMITED
    replicas, reason, notes = _invariants((replicas, reason, notes), obs, floor, policy, soon)
    if replicas == current:
        if reason in _STEADY_REASONS:
            reason = Reason.STEADY
    else:
        events = (*events, ScaleEvent(now, replicas - current))
    return Decision(replicas, QueueState(recs, events, last_active, 0, capacity), reason, notes)


def in_flight_floor(in_flight: int, policy: QueuePolicy) -> int:
    """Replicas the work in flight needs, capped at maxReplicas."""
    return min(-(-in_flight // policy.concurrency), policy.max_replicas)


def wake_lead_s(obs: Observation, policy: QueuePolicy) -> float:
    """How long before the first delayed task is due a replica is asked for: the time a new
    replica takes to start (``podStartupSeconds``) plus the time until the next decision."""
    return policy.pod_startup_s + obs.next_look_in_s


def due_soon(obs: Observation, policy: QueuePolicy) -> bool:
    """Whether the first delayed task is due within the wake lead (or overdue)."""
    due = obs.next_due_in_s
    return due is not None and due <= policy.pod_startup_s + obs.next_look_in_s


def _holds_work(obs: Observation) -> bool:
    """Work waits, runs or is held (by live or dead workers)."""
    return obs.backlog > 0 or obs.in_flight > 0 or obs.held_live > 0 or obs.held_dead > 0


def backlog_replicas(obs: Observation, policy: QueuePolicy) -> int | None:
    target = policy.target_backlog_per_replica
    if target is None:
        return None
    work = obs.backlog + obs.in_flight + obs.held_dead
    whole = int(target)
    if whole == target:  # exact in integers (the usual case), no rounding needed
        return -(-work // whole)
    return _ceil(work / target)


def latency_replicas(obs: Observation, capacity: float | None, policy: QueuePolicy) -> int | None:
    """Replicas whose throughput drains the backlog within the target and keeps up with
    arrivals: ``(arrival_rate + backlog / targetLatencySeconds) / per-replica capacity``.

    Without a learnt ``capacity`` (no completions seen under load yet) it asks for what there
    is, at least one replica while work waits.
    """
    target = policy.target_latency_s
    if target is None:
        return None
    waiting = obs.backlog + obs.held_dead
    if waiting == 0 and obs.in_flight == 0:
        return 0
    if not capacity:
        return max(obs.current_replicas, 1)
    needed = obs.arrival_rate_per_s + waiting / target
    return max(_ceil(min(needed / capacity, MAX_SANE_REPLICAS)), 1)


def _ceil(value: float) -> int:
    return math.ceil(round(value, 9))


def _capacity(obs: Observation, learnt: float | None, policy: QueuePolicy) -> float | None:
    """Tasks one busy replica completes per second, relearnt whenever replicas work a backlog."""
    current = obs.current_replicas
    if current > 0 and obs.backlog > 0 and obs.completion_rate_per_s > 0:
        busy = min(max(-(-obs.in_flight // policy.concurrency), 1), current)
        return obs.completion_rate_per_s / busy
    return learnt


def _targets(obs: Observation, capacity: float | None, policy: QueuePolicy) -> _Step:
    by_backlog = backlog_replicas(obs, policy)
    by_latency = latency_replicas(obs, capacity, policy)
    if by_latency is not None and (by_backlog is None or by_latency > by_backlog):
        text = "waiting %d + in flight %d, arrivals %.1f/s, within %gs -> %d"
        values = (
            obs.backlog,
            obs.in_flight,
            obs.arrival_rate_per_s,
            policy.target_latency_s,
            by_latency,
        )
        return by_latency, Reason.LATENCY, ((text, values),)
    assert by_backlog is not None  # the config requires one target
    per_replica = policy.target_backlog_per_replica
    if obs.held_dead:
        text = "waiting %d + held by dead workers %d + in flight %d over %g per replica -> %d"
        dead = (obs.backlog, obs.held_dead, obs.in_flight, per_replica, by_backlog)
        return by_backlog, Reason.BACKLOG, ((text, dead),)
    text = "waiting %d + in flight %d over %g per replica -> %d"
    sized = (obs.backlog, obs.in_flight, per_replica, by_backlog)
    return by_backlog, Reason.BACKLOG, ((text, sized),)


def wakes(obs: Observation, policy: QueuePolicy) -> bool:
    """Whether a queue at zero gets a replica: work in flight or held, a backlog (with the
    tasks of dead workers) above activationBacklog, an oldest task older than
    targetLatencySeconds, or a delayed task due within the wake lead."""
    return _wake_reason(obs, policy) is not None


def _wake_reason(obs: Observation, policy: QueuePolicy) -> Reason | None:
    if obs.in_flight > 0 or obs.held_live > 0:
        return Reason.ACTIVATION
    if obs.backlog + obs.held_dead > policy.activation_backlog:
        return Reason.ACTIVATION
    target = policy.target_latency_s
    age = obs.oldest_age_s
    if target is not None and age is not None and age >= target:
        return Reason.ACTIVATION
    if obs.next_due_in_s is not None and due_soon(obs, policy):
        return Reason.DELAYED_DUE
    return None


def _woken(reason: Reason, obs: Observation, policy: QueuePolicy) -> tuple[Note, ...]:
    if reason is Reason.DELAYED_DUE:
        return (_due_note(obs, policy),)
    return (("waking from zero", ()),)


def _due_note(obs: Observation, policy: QueuePolicy) -> Note:
    text = "first of %d delayed due in %.0fs <= podStartupSeconds %g + next look %gs"
    return (text, (obs.delayed, obs.next_due_in_s, policy.pod_startup_s, obs.next_look_in_s))


def _idle_notes(obs: Observation, policy: QueuePolicy) -> tuple[Note, ...]:
    idle: Note = ("waiting %d <= activationBacklog %d", (obs.backlog, policy.activation_backlog))
    if obs.next_due_in_s is None:
        return (idle,)
    text = "%d delayed, the first due in %.0fs: woken %gs ahead"
    return idle, (text, (obs.delayed, obs.next_due_in_s, wake_lead_s(obs, policy)))


def _zero_rules(
    step: _Step, obs: Observation, idle_s: float, policy: QueuePolicy, soon: bool
) -> _Step:
    replicas, _, notes = step
    if obs.current_replicas == 0:
        why = _wake_reason(obs, policy)
        if why is None:
            return 0, Reason.IDLE, _idle_notes(obs, policy)
        if why is Reason.DELAYED_DUE:  # the targets asked for nothing: the wake-up is the why
            return 1, why, _woken(why, obs, policy)
        if replicas <= 1:
            return 1, why, (*notes, *_woken(why, obs, policy))
        return step
    if replicas > 0:
        return step
    if soon:
        return 1, Reason.DELAYED_DUE, (_due_note(obs, policy),)
    if idle_s < policy.cooldown_s:
        return (
            1,
            Reason.COOLDOWN,
            (("idle %.0fs < cooldownSeconds %g", (idle_s, policy.cooldown_s)),),
        )
    text = "idle %.0fs >= cooldownSeconds %g"
    return 0, Reason.SCALE_TO_ZERO, ((text, (idle_s, policy.cooldown_s)),)


def _bounds(step: _Step, obs: Observation, floor: int, policy: QueuePolicy) -> _Step:
    replicas, _, notes = step
    if replicas > policy.max_replicas:
        return _capped(notes, policy)
    if replicas < floor:
        return _raised_to_floor(notes, obs.in_flight, floor)
    if replicas < policy.min_replicas:
        return _raised_to_min(notes, policy)
    return step


def _invariants(
    step: _Step, obs: Observation, floor: int, policy: QueuePolicy, soon: bool
) -> _Step:
    """The rules that hold whatever the settings, applied after the behavior."""
    replicas, _, notes = step
    if replicas < floor:
        step = replicas, _, notes = _raised_to_floor(notes, obs.in_flight, floor)
    if replicas == 0:
        if obs.current_replicas == 0:
            why = _wake_reason(obs, policy)
            if why is not None:
                woken = tuple(n for n in _woken(why, obs, policy) if n not in notes)
                step = replicas, _, notes = 1, why, (*notes, *woken)
        elif _holds_work(obs):
            keep = ("work waits, keeping one replica", ())
            step = replicas, _, notes = 1, Reason.WORK_WAITING, (*notes, keep)
        elif soon:
            step = replicas, _, notes = 1, Reason.DELAYED_DUE, (*notes, _due_note(obs, policy))
    if replicas > policy.max_replicas:
        return _capped(notes, policy)
    if replicas < policy.min_replicas:
        return _raised_to_min(notes, policy)
    return step


def _capped(notes: tuple[Note, ...], policy: QueuePolicy) -> _Step:
    cap = policy.max_replicas
    return cap, Reason.MAX_REPLICAS, (*notes, ("capped at maxReplicas %d", (cap,)))


def _raised_to_floor(notes: tuple[Note, ...], in_flight: int, floor: int) -> _Step:
    return floor, Reason.IN_FLIGHT_FLOOR, (*notes, ("in flight %d needs %d", (in_flight, floor)))


def _raised_to_min(notes: tuple[Note, ...], policy: QueuePolicy) -> _Step:
    least = policy.min_replicas
    return least, Reason.MIN_REPLICAS, (*notes, ("raised to minReplicas %d", (least,)))


def _on_failure(obs: Observation, state: QueueState, policy: QueuePolicy, now: float) -> Decision:
    events = state.events
    if events:
        events = prune_events(events, policy.scale_up, policy.scale_down, now)
    failures = state.consecutive_failures + 1
    state = state._replace(consecutive_failures=failures, last_active_at=now, events=events)
    current = obs.current_replicas
    fallback = policy.fallback_replicas
    if fallback is not None and failures >= policy.failure_threshold and fallback > current:
        desired, reason = fallback, Reason.FALLBACK
        text = "%d failed observations >= failureThreshold %d"
        why = (text, (failures, policy.failure_threshold))
    else:
        desired, reason = current, Reason.OBSERVATION_FAILED
        why = ("%d failed observation(s) in a row: holding %d", (failures, current))
    desired = min(max(desired, policy.min_replicas), policy.max_replicas)
    if desired != current:
        state = state._replace(events=(*state.events, ScaleEvent(now, desired - current)))
    return Decision(desired, state, reason, (why,))
