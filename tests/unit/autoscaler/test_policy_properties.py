"""Properties of the policy over whole sequences of observations (replicas follow decisions)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.autoscaler.config import (
    PolicyType,
    QueuePolicy,
    RatePolicy,
    ScalingRules,
    SelectPolicy,
)
from scheduler.autoscaler.model import Decision, Observation, QueueState, Reason
from scheduler.autoscaler.policy import decide, wake_lead_s

LOOK_S = 2.0
"""The poll interval the observations say the controller decides again after."""


@st.composite
def policies(draw: st.DrawFn) -> QueuePolicy:
    min_r = draw(st.integers(0, 5))
    max_r = draw(st.integers(max(min_r, 1), 40))
    backlog_target = draw(st.one_of(st.none(), st.floats(1, 500)))
    latency = (
        draw(st.one_of(st.none(), st.floats(1, 120))) if backlog_target else draw(st.floats(1, 120))
    )
    up = ScalingRules(
        draw(st.sampled_from([0, 0, 30, 60])),
        draw(st.sampled_from(list(SelectPolicy))),
        (
            RatePolicy(PolicyType.PERCENT, draw(st.integers(10, 300)), draw(st.integers(5, 60))),
            RatePolicy(PolicyType.PODS, draw(st.integers(1, 8)), draw(st.integers(5, 60))),
        ),
    )
    down = ScalingRules(
        draw(st.sampled_from([0, 30, 120, 300])),
        SelectPolicy.MAX,
        (RatePolicy(PolicyType.PODS, draw(st.integers(1, 5)), draw(st.integers(5, 120))),),
    )
    return QueuePolicy(
        name="q",
        concurrency=draw(st.integers(1, 50)),
        min_replicas=min_r,
        max_replicas=max_r,
        target_backlog_per_replica=backlog_target,
        target_latency_s=latency,
        activation_backlog=draw(st.sampled_from([0, 0, 1, 5])),
        cooldown_s=draw(st.sampled_from([0.0, 30.0, 300.0])),
        pod_startup_s=draw(st.sampled_from([0.0, 5.0, 10.0, 45.0])),
        fallback_replicas=draw(st.one_of(st.none(), st.integers(min_r, max_r))),
        failure_threshold=draw(st.integers(1, 4)),
        scale_up=up,
        scale_down=down,
    )


@dataclass(frozen=True)
class Step:
    dt_s: float
    backlog: int
    in_flight_share: float  # of what the current replicas can hold
    arrival: float
    completion: float
    ok: bool
    held_dead: int = 0
    held_live: int = 0
    due_in_s: float | None = None
    """When the first delayed task is due, from this observation (None: nothing delayed)."""


steps = st.lists(
    st.builds(
        Step,
        dt_s=st.sampled_from([1.0, 2.0, 2.0, 5.0, 15.0, 60.0]),
        backlog=st.one_of(st.just(0), st.integers(0, 20), st.integers(0, 20_000)),
        in_flight_share=st.sampled_from([0.0, 0.0, 0.5, 1.0]),
        arrival=st.floats(0, 500),
        completion=st.floats(0, 500),
        ok=st.sampled_from([True, True, True, False]),
        held_dead=st.sampled_from([0, 0, 0, 1, 30]),
        held_live=st.sampled_from([0, 0, 0, 2]),
        due_in_s=st.one_of(st.none(), st.none(), st.floats(-30, 120), st.floats(120, 1e6)),
    ),
    min_size=1,
    max_size=60,
)


def run(pol: QueuePolicy, start: int, seq: list[Step]) -> list[tuple[float, Observation, Decision]]:
    """Feed ``seq`` through the policy; the replicas follow each decision."""
    now, current, state = 1000.0, start, QueueState.initial()
    out = []
    for step in seq:
        now += step.dt_s
        in_flight = int(step.in_flight_share * current * pol.concurrency)
        obs = Observation(
            backlog=step.backlog,
            in_flight=in_flight,
            oldest_age_s=None,
            arrival_rate_per_s=step.arrival,
            completion_rate_per_s=step.completion,
            current_replicas=current,
            ok=step.ok,
            held_live=step.held_live,
            held_dead=step.held_dead,
            delayed=0 if step.due_in_s is None else 3,
            next_due_in_s=step.due_in_s,
            next_look_in_s=LOOK_S,
        )
        if not step.ok:
            obs = Observation.failed(current)
        decision = decide(obs, state, pol, now)
        out.append((now, obs, decision))
        current, state = decision.desired, decision.state
    return out


@st.composite
def scenario(draw: st.DrawFn) -> tuple[QueuePolicy, int, list[Step]]:
    pol = draw(policies())
    return pol, draw(st.integers(pol.min_replicas, pol.max_replicas)), draw(steps)


@settings(max_examples=300, deadline=None)
@given(scenario())
def test_replicas_stay_within_min_and_max(case: tuple[QueuePolicy, int, list[Step]]) -> None:
    pol, start, seq = case
    for _, _, decision in run(pol, start, seq):
        assert pol.min_replicas <= decision.desired <= pol.max_replicas


@settings(max_examples=300, deadline=None)
@given(scenario())
def test_never_under_the_in_flight_floor(case: tuple[QueuePolicy, int, list[Step]]) -> None:
    pol, start, seq = case
    for _, obs, decision in run(pol, start, seq):
        if obs.ok:
            floor = min(math.ceil(obs.in_flight / pol.concurrency), pol.max_replicas)
            assert decision.desired >= floor


@settings(max_examples=300, deadline=None)
@given(scenario())
def test_never_zero_while_work_waits_runs_or_is_held(
    case: tuple[QueuePolicy, int, list[Step]],
) -> None:
    """Never zero while tasks are in flight or held by live workers; above zero, never zero
    while tasks wait or are held by dead workers (they are back in the queue within seconds);
    at zero, woken when the waiting and the dead workers' tasks exceed activationBacklog."""
    pol, start, seq = case
    for _, obs, decision in run(pol, start, seq):
        if not obs.ok:
            continue
        if obs.in_flight > 0 or obs.held_live > 0:
            assert decision.desired >= 1
        waiting = obs.backlog + obs.held_dead
        if waiting > 0 and obs.current_replicas > 0:
            assert decision.desired >= 1
        if waiting > pol.activation_backlog:
            assert decision.desired >= 1


@settings(max_examples=300, deadline=None)
@given(scenario())
def test_a_delayed_task_due_within_the_wake_lead_always_has_a_replica(
    case: tuple[QueuePolicy, int, list[Step]],
) -> None:
    """Due (or overdue) within podStartupSeconds plus the time to the next decision: at least
    one replica, at zero or not, whatever the settings."""
    pol, start, seq = case
    for _, obs, decision in run(pol, start, seq):
        due = obs.next_due_in_s
        if obs.ok and due is not None and due <= pol.pod_startup_s + LOOK_S:
            assert decision.desired >= 1, (obs, decision)


@settings(max_examples=300, deadline=None)
@given(
    policies(),
    st.floats(1.0, 5000.0),
    st.floats(0.0, 1.0),
    st.sampled_from([1.0, 2.0, 5.0]),
)
def test_a_queue_at_zero_wakes_for_delayed_work_in_time_and_not_before(
    pol: QueuePolicy, due_at: float, phase: float, poll_s: float
) -> None:
    """One delayed task due at ``due_at``, nothing else; the controller decides every
    ``poll_s`` from a random phase. The first decision to wake comes no later than
    ``due_at - podStartupSeconds`` (a replica started then is ready when the task is due) and
    no earlier than ``due_at - podStartupSeconds - poll_s`` (no replica-seconds spent waiting
    for work far ahead)."""
    if pol.min_replicas > 0:
        return
    state, t = QueueState(last_active_at=-1e9), -1e4 + phase * poll_s
    while True:
        obs = Observation(delayed=1, next_due_in_s=due_at - t, next_look_in_s=poll_s)
        decision = decide(obs, state, pol, t)
        if decision.desired:
            break
        assert decision.reason is Reason.IDLE
        state, t = decision.state, t + poll_s
    assert decision.reason is Reason.DELAYED_DUE
    eps = 1e-6  # the loop's time is a sum of floats
    assert due_at - pol.pod_startup_s - poll_s - eps <= t <= due_at - pol.pod_startup_s + eps
    assert wake_lead_s(obs, pol) == pol.pod_startup_s + poll_s


@settings(max_examples=200, deadline=None)
@given(policies(), st.integers(0, 40), st.floats(0.0, 1e5))
def test_only_delayed_work_far_ahead_lets_a_queue_go_to_zero(
    pol: QueuePolicy, start: int, beyond_s: float
) -> None:
    """A queue whose only work is delayed beyond the wake lead is idle: with minReplicas 0 it
    ends at zero (through its cooldown and scale-down policies), and stays there."""
    start = min(max(start, pol.min_replicas), pol.max_replicas)
    far = pol.pod_startup_s + LOOK_S + 1.0 + beyond_s
    # The task stays as far ahead at every look (a moving horizon): 8000 s of looks.
    seq = [Step(10.0, 0, 0.0, 0.0, 0.0, True, due_in_s=far)] * 800
    replicas = [d.desired for _, _, d in run(pol, start, seq)]
    assert replicas[-1] == pol.min_replicas
    assert len(set(replicas[-20:])) == 1


@settings(max_examples=300, deadline=None)
@given(scenario())
def test_failures_never_lower_replicas(case: tuple[QueuePolicy, int, list[Step]]) -> None:
    pol, start, seq = case
    for _, obs, decision in run(pol, start, seq):
        if not obs.ok:
            assert decision.desired >= obs.current_replicas


@settings(max_examples=300, deadline=None)
@given(scenario())
def test_scale_down_never_faster_than_its_policy(case: tuple[QueuePolicy, int, list[Step]]) -> None:
    pol, start, seq = case
    (limit,) = pol.scale_down.policies
    history = [(0.0, start)]  # (time, replicas after the decision at that time)
    for now, obs, decision in run(pol, start, seq):
        at_period_start = [r for t, r in history if t <= now - limit.period_s]
        before = at_period_start[-1] if at_period_start else start
        if decision.desired < obs.current_replicas:
            assert decision.desired >= before - limit.value
        history.append((now, decision.desired))


@settings(max_examples=200, deadline=None)
@given(
    policies(),
    st.integers(0, 5000),
    st.floats(0, 200),
    st.sampled_from([0.0, 0.5, 1.0]),
    st.integers(0, 40),
)
def test_no_oscillation_under_a_steady_load(
    pol: QueuePolicy, backlog: int, rate: float, share: float, start: int
) -> None:
    """The same observation over and over moves the replicas one way only, then stops."""
    start = min(max(start, pol.min_replicas), pol.max_replicas)
    # 8000 s: even the slowest generated ramp (40 replicas, one per 120 s) has finished.
    seq = [Step(10.0, backlog, share, rate, rate, True)] * 800
    replicas = [start] + [d.desired for _, _, d in run(pol, start, seq)]
    ups = any(b > a for a, b in pairwise(replicas))
    downs = any(b < a for a, b in pairwise(replicas))
    assert not (ups and downs), replicas
    assert len(set(replicas[-20:])) == 1, replicas
