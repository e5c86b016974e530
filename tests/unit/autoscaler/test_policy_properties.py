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
from scheduler.autoscaler.model import Decision, Observation, QueueState
from scheduler.autoscaler.policy import decide


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


steps = st.lists(
    st.builds(
        Step,
        dt_s=st.sampled_from([1.0, 2.0, 2.0, 5.0, 15.0, 60.0]),
        backlog=st.one_of(st.just(0), st.integers(0, 20), st.integers(0, 20_000)),
        in_flight_share=st.sampled_from([0.0, 0.0, 0.5, 1.0]),
        arrival=st.floats(0, 500),
        completion=st.floats(0, 500),
        ok=st.sampled_from([True, True, True, False]),
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
def test_never_zero_while_work_waits_or_runs(case: tuple[QueuePolicy, int, list[Step]]) -> None:
    pol, start, seq = case
    for _, obs, decision in run(pol, start, seq):
        if obs.ok and (obs.in_flight > 0 or (obs.backlog > 0 and obs.current_replicas > 0)):
            assert decision.desired >= 1
        if obs.ok and obs.backlog > pol.activation_backlog:
            assert decision.desired >= 1


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
