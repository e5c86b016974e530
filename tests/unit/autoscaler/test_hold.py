"""``hold``, ``carry`` and ``reads_rates``: the simulator's shortcuts change no answer.

Whatever came before, once ``decide`` has answered, asking again with any observation inside
the answer's hold (before its time is up) gives the same replicas, and the reason the hold
names for it; and the state ``carry`` gives lets the next real question be answered exactly as
if every poll inside the hold had been asked.
"""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import event, given, settings
from hypothesis import strategies as st

from scheduler.autoscaler.config import QueuePolicy
from scheduler.autoscaler.hold import NO_HOLD, Hold, carry, hold, reads_rates
from scheduler.autoscaler.model import Observation, QueueState, Reason
from scheduler.autoscaler.policy import decide
from scheduler.autoscaler.rates import RateState, quiet_samples, update_rates
from tests.unit.autoscaler.helpers import policy
from tests.unit.autoscaler.test_policy_properties import LOOK_S, Step, policies, run, steps

dues = st.one_of(st.none(), st.floats(-10, 60), st.floats(60, 1e5))
"""When the first delayed task is due: none delayed, due about now, or far ahead."""


def observe(work: int, in_flight: int, current: int, due_in_s: float | None = None) -> Observation:
    """An observation with ``work`` tasks waiting plus in flight, no rates, and a first delayed
    task due in ``due_in_s`` (None: nothing delayed)."""
    delayed = 0 if due_in_s is None else 2
    return Observation(work - in_flight, in_flight, None, 0.0, 0.0, current, True, 0, 0, delayed,
                       due_in_s, LOOK_S)  # fmt: skip


def inside(draw: st.DrawFn, held: Hold, current: int, pol: QueuePolicy) -> Observation:
    work = draw(st.integers(held.work_min, min(held.work_max, held.work_min + 400)))
    most = min(work, held.in_flight_max, current * pol.concurrency)
    after = max(held.due_beyond_s, -1e6)
    due = draw(st.one_of(st.none(), st.floats(after, after + 1e5, exclude_min=True)))
    return observe(work, draw(st.integers(0, most)), current, due)


@st.composite
def cases(draw: st.DrawFn) -> tuple[QueuePolicy, list[Step], Observation, list[float], Step]:
    pol = draw(policies())
    if draw(st.booleans()):  # the steady holds need a whole backlog target and no latency
        pol = replace(pol, target_latency_s=None, target_backlog_per_replica=draw(
            st.sampled_from([1.0, 5.0, 20.0, 100.0])))  # fmt: skip
    before = draw(steps)
    history = run(pol, pol.min_replicas, before)
    current = history[-1][2].desired
    work = draw(st.one_of(st.just(0), st.integers(0, 50), st.integers(0, 5000)))
    in_flight = draw(st.integers(0, min(work, current * pol.concurrency)))
    first = observe(work, in_flight, current, draw(dues))
    gaps = draw(st.lists(st.sampled_from([1.0, 2.0, 2.0, 7.0, 30.0]), min_size=1, max_size=60))
    wake = draw(
        st.builds(
            Step,
            dt_s=st.sampled_from([1.0, 2.0, 60.0]),
            backlog=st.integers(0, 5000),
            in_flight_share=st.sampled_from([0.0, 0.5]),
            arrival=st.just(0.0),
            completion=st.just(0.0),
            ok=st.booleans(),
            due_in_s=dues,
        )
    )
    return pol, before, first, gaps, wake


@settings(max_examples=500, deadline=None)
@given(cases(), st.data())
def test_answers_inside_a_hold_are_the_held_ones(
    case: tuple[QueuePolicy, list[Step], Observation, list[float], Step], data: st.DataObject
) -> None:
    pol, before, first_obs, gaps, wake = case
    now, _, last = run(pol, pol.min_replicas, before)[-1]
    now += 2.0
    first = decide(first_obs, last.state, pol, now)
    held = hold(first_obs, first, pol)
    if first.desired != first_obs.current_replicas:
        assert held == NO_HOLD
    if held == NO_HOLD:
        event("no hold")
        return
    current = first.desired
    asked, t, last_work = first.state, now, first.state.last_active_at
    for gap in gaps:
        obs = inside(data.draw, held, current, pol)
        busy = obs.backlog + obs.in_flight > 0
        assert last_work is not None
        if t + gap >= held.until or (not busy and t + gap >= last_work + held.idle_for_s):
            break
        t += gap
        again = decide(obs, asked, pol, t)
        assert again.desired == current
        assert again.reason == (held.busy if busy else held.idle)
        asked = again.state
        last_work = t if busy else last_work
    event(f"hold {held.busy}/{held.idle}, polls asked: {'some' if t > now else 'none'}")
    carried = carry(first.state, pol, t, last_work) if t > now else first.state
    assert carried.recommendations == asked.recommendations
    assert carried._replace(events=()) == asked._replace(events=())
    at = t + wake.dt_s
    in_flight = int(wake.in_flight_share * current * pol.concurrency)
    obs = observe(wake.backlog + in_flight, in_flight, current, wake.due_in_s)
    if not wake.ok:
        obs = Observation.failed(current)
    assert decide(obs, carried, pol, at) == decide(obs, asked, pol, at)


def test_an_idle_queue_at_zero_holds_for_ever() -> None:
    pol = policy(min_replicas=0)
    first = decide(observe(0, 0, 0), QueueState(last_active_at=0.0), pol, 400.0)
    assert (first.desired, first.reason) == (0, Reason.IDLE)
    # Delayed tasks due more than podStartupSeconds 10 + the next look 2 s ahead change nothing.
    expected = Hold(0, 0, 0, math.inf, math.inf, Reason.STEADY, Reason.IDLE, 12.0)
    assert hold(observe(0, 0, 0), first, pol) == expected


def test_one_replica_holds_through_work_and_idle_until_the_cooldown_after_the_last_work() -> None:
    pol = policy(min_replicas=0, cooldown_s=300.0)  # targetBacklogPerReplica 100, concurrency 10
    first = decide(observe(0, 0, 1), QueueState(last_active_at=100.0), pol, 150.0)
    assert (first.desired, first.reason) == (1, Reason.COOLDOWN)
    held = hold(observe(0, 0, 1), first, pol)
    assert held == Hold(0, 100, 10, math.inf, 300.0, Reason.STEADY, Reason.COOLDOWN, 12.0)
    busy = decide(observe(100, 10, 1), first.state, pol, 200.0)
    assert (busy.desired, busy.reason) == (1, Reason.STEADY)
    carried = carry(first.state, pol, 497.0, 200.0)
    cooling = decide(observe(0, 0, 1), carried, pol, 499.0)
    assert (cooling.desired, cooling.reason) == (1, Reason.COOLDOWN)  # 299 s after the work
    cooled = decide(observe(0, 0, 1), carried, pol, 500.0)
    assert cooled.reason is not Reason.COOLDOWN  # 300 s: cooled down (the window holds it)


def test_a_steady_queue_holds_while_its_work_asks_for_the_same_replicas() -> None:
    pol = policy(min_replicas=0, max_replicas=10)
    first = decide(observe(350, 30, 4), QueueState(), pol, 10.0)
    assert (first.desired, first.reason) == (4, Reason.STEADY)
    assert hold(observe(350, 30, 4), first, pol) == Hold(301, 400, 40, math.inf, math.inf,
                                                          Reason.STEADY, Reason.STEADY,
                                                          -math.inf)  # fmt: skip


def test_delayed_work_due_within_the_lead_or_held_tasks_are_never_held() -> None:
    pol = policy(min_replicas=0)
    far = observe(0, 0, 0, 500.0)
    idle = decide(far, QueueState(last_active_at=0.0), pol, 400.0)
    assert (idle.desired, idle.reason) == (0, Reason.IDLE)
    assert hold(far, idle, pol).due_beyond_s == 12.0
    soon = observe(0, 0, 1, 11.0)
    kept = decide(soon, QueueState(last_active_at=0.0), pol, 400.0)
    assert (kept.desired, kept.reason) == (1, Reason.DELAYED_DUE)
    assert hold(soon, kept, pol) == NO_HOLD
    for held_obs in (far._replace(held_dead=1), far._replace(held_live=1, current_replicas=1)):
        assert hold(held_obs, decide(held_obs, QueueState(), pol, 400.0), pol) == NO_HOLD


def test_work_that_changes_the_answer_or_reads_rates_is_not_held() -> None:
    pol = policy(min_replicas=0)
    busy = observe(5, 0, 0)
    assert hold(busy, decide(busy, QueueState(), pol, 10.0), pol) == NO_HOLD  # woken: 0 -> 1
    latency = replace(pol, target_latency_s=30.0)
    steady = observe(150, 10, 2)
    assert hold(steady, decide(steady, QueueState(), latency, 10.0), latency) == NO_HOLD


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
