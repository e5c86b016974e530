"""``quiet_until``, ``carry_quiet`` and ``reads_rates``: the simulator's shortcuts change no answer.

Whatever came before, once a quiet observation (nothing waiting or in flight, replicas kept)
has been answered, asking again at any time before ``quiet_until`` gives the same replicas
and reason, and the state ``carry_quiet`` gives lets the next real question be answered
exactly as if every quiet poll had been asked.
"""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import event, given, settings
from hypothesis import strategies as st

from scheduler.autoscaler.config import QueuePolicy
from scheduler.autoscaler.model import Observation, QueueState, Reason
from scheduler.autoscaler.policy import carry_quiet, decide, quiet_until, reads_rates
from scheduler.autoscaler.rates import RateState, quiet_samples, update_rates
from tests.unit.autoscaler.helpers import policy
from tests.unit.autoscaler.test_policy_properties import Step, policies, run, steps


def quiet(current: int, arrival: float = 0.0) -> Observation:
    return Observation(arrival_rate_per_s=arrival, completion_rate_per_s=arrival / 2,
                       current_replicas=current)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    policies(),
    steps,
    st.lists(st.sampled_from([1.0, 2.0, 2.0, 7.0, 30.0]), min_size=1, max_size=80),
    st.builds(
        Step,
        dt_s=st.sampled_from([1.0, 2.0, 60.0]),
        backlog=st.integers(0, 5000),
        in_flight_share=st.sampled_from([0.0, 0.5]),
        arrival=st.floats(0, 100),
        completion=st.floats(0, 100),
        ok=st.booleans(),
    ),
)
def test_skipping_quiet_polls_changes_no_answer(
    pol: QueuePolicy, before: list[Step], gaps: list[float], wake: Step
) -> None:
    history = run(pol, pol.min_replicas, before)
    now, _, last = history[-1]
    current, state = last.desired, last.state
    now += 2.0
    first = decide(quiet(current), state, pol, now)
    if first.desired != current:  # not settled yet: a quiet poll that changes nothing comes later
        return
    until = quiet_until(quiet(current), first, pol)
    asked, t = first.state, now
    for gap in gaps:
        if t + gap >= until:
            break
        t += gap
        again = decide(quiet(current, arrival=gap), asked, pol, t)
        assert (again.desired, again.reason) == (first.desired, first.reason)
        asked = again.state
    event(f"quiet polls asked: {'some' if t > now else 'none'}, reason {first.reason}")
    carried = carry_quiet(first.state, t) if t > now else first.state
    assert carried.recommendations == asked.recommendations
    assert carried._replace(events=()) == asked._replace(events=())
    at = t + wake.dt_s
    in_flight = int(wake.in_flight_share * current * pol.concurrency)
    obs = Observation(wake.backlog, in_flight, None, wake.arrival, wake.completion, current)
    if not wake.ok:
        obs = Observation.failed(current)
    assert decide(obs, carried, pol, at) == decide(obs, asked, pol, at)


def test_an_idle_queue_at_zero_stays_quiet_for_ever() -> None:
    pol = policy(min_replicas=0)
    state = QueueState(last_active_at=0.0)
    first = decide(quiet(0), state, pol, 400.0)
    assert (first.desired, first.reason) == (0, Reason.IDLE)
    assert quiet_until(quiet(0), first, pol) == math.inf


def test_a_cooling_queue_is_quiet_until_its_cooldown_ends() -> None:
    pol = policy(min_replicas=0, cooldown_s=300.0)
    first = decide(quiet(1), QueueState(last_active_at=100.0), pol, 150.0)
    assert (first.desired, first.reason) == (1, Reason.COOLDOWN)
    assert quiet_until(quiet(1), first, pol) == 400.0
    after = decide(quiet(1), carry_quiet(first.state, 398.0), pol, 400.0)
    assert after.reason in (Reason.SCALE_TO_ZERO, Reason.STABILIZATION)


def test_work_or_a_change_is_never_quiet() -> None:
    pol = policy(min_replicas=0)
    busy = Observation(backlog=5, current_replicas=1)
    assert quiet_until(busy, decide(busy, QueueState(), pol, 10.0), pol) == -math.inf
    woken = decide(quiet(3), QueueState(last_active_at=0.0), policy(scale_down=pol.scale_up), 9e3)
    assert woken.desired != 3
    assert quiet_until(quiet(3), woken, pol) == -math.inf


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0, 500),
    st.floats(0, 500),
    st.lists(st.sampled_from([1.0, 2.0, 3.5]), min_size=1, max_size=200),
)
def test_quiet_samples_give_update_rates_numbers(
    arrival: float, completion: float, gaps: list[float]
) -> None:
    start = RateState(at=100.0, total=40, completed=40, arrival_per_s=arrival,
                      completion_per_s=completion)  # fmt: skip
    times, t = [], 100.0
    for gap in gaps:
        t += gap
        times.append(t)
    one_by_one = start
    for at in times:
        one_by_one = update_rates(one_by_one, at=at, backlog=0, in_flight=0, completed=40)
    assert quiet_samples(start, times, half_life_s=10.0) == one_by_one


@settings(max_examples=300, deadline=None)
@given(policies(), steps, st.floats(0, 500), st.floats(0, 500))
def test_without_a_latency_target_the_rates_change_no_answer(
    pol: QueuePolicy, seq: list[Step], arrival: float, completion: float
) -> None:
    if reads_rates(pol):
        pol = replace(pol, target_latency_s=None, target_backlog_per_replica=50.0)
    assert not reads_rates(pol)
    zero, rated = QueueState(), QueueState()
    now, current = 1000.0, pol.min_replicas
    for step in seq:
        now += step.dt_s
        in_flight = int(step.in_flight_share * current * pol.concurrency)
        plain = Observation(step.backlog, in_flight, None, 0.0, 0.0, current)
        busy = Observation(step.backlog, in_flight, None, arrival, completion, current)
        a, b = decide(plain, zero, pol, now), decide(busy, rated, pol, now)
        assert (a.desired, a.reason, a.detail) == (b.desired, b.reason, b.detail)
        zero, rated, current = a.state, b.state, a.desired
