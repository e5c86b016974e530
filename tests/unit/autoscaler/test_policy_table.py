"""The policy as a table: HPA equivalence, targets, activation, cooldown, bounds, failures."""

from __future__ import annotations

import math

import pytest

from scheduler.autoscaler.config import PolicyType, RatePolicy, ScalingRules, SelectPolicy
from scheduler.autoscaler.model import (
    Observation,
    QueueState,
    Reason,
    Recent,
    Recommendation,
    ScaleEvent,
)
from scheduler.autoscaler.policy import decide
from tests.unit.autoscaler.helpers import policy, unlimited

NOW = 10_000.0


def hpa_average_value(current: int, total: int, target: int) -> int:
    """What an HPA with default behaviour and no history does with an AverageValue metric."""
    desired = math.ceil(total / target)
    if desired > current:
        desired = min(desired, max(2 * current, current + 4))  # Percent 100 / Pods 4
    return desired


@pytest.mark.parametrize(
    ("current", "backlog"),
    [(5, 500), (5, 800), (10, 1500), (3, 250), (8, 120), (1, 100), (2, 5000), (20, 10), (4, 401)],
)
def test_only_target_backlog_with_default_behaviour_matches_an_hpa_average_value_metric(
    current: int, backlog: int
) -> None:
    pol = policy(max_replicas=100)
    decision = decide(
        Observation(backlog=backlog, current_replicas=current), QueueState(), pol, NOW
    )
    assert decision.desired == hpa_average_value(current, backlog, 100)


@pytest.mark.parametrize(
    ("backlog", "in_flight", "current", "desired", "reason"),
    [
        (3000, 0, 10, 30, Reason.BACKLOG),
        (0, 100, 10, 10, Reason.IN_FLIGHT_FLOOR),  # busy replicas are not removed
        (900, 100, 10, 10, Reason.STEADY),  # (900 waiting + 100 in flight) / 100
        (1900, 100, 10, 20, Reason.BACKLOG),
        (50, 0, 10, 1, Reason.BACKLOG),
        (10_000, 0, 10, 50, Reason.MAX_REPLICAS),
    ],
)
def test_backlog_target_counts_waiting_and_in_flight(
    backlog: int, in_flight: int, current: int, desired: int, reason: Reason
) -> None:
    pol = unlimited(max_replicas=50)
    obs = Observation(backlog=backlog, in_flight=in_flight, current_replicas=current)
    decision = decide(obs, QueueState(), pol, NOW)
    assert (decision.desired, decision.reason) == (desired, reason)


def test_latency_target_sizes_from_arrivals_backlog_and_learnt_capacity() -> None:
    pol = unlimited(target_backlog_per_replica=None, target_latency_s=30.0, max_replicas=50)
    state = QueueState(capacity_per_replica_per_s=10.0)
    # 50/s arrive and 600 wait: 50 + 600/30 = 70/s needed, 10/s per replica -> 7.
    obs = Observation(backlog=600, in_flight=0, arrival_rate_per_s=50.0, current_replicas=3)
    decision = decide(obs, state, pol, NOW)
    assert (decision.desired, decision.reason) == (7, Reason.LATENCY)


def test_capacity_is_learnt_from_completions_of_busy_replicas_under_backlog() -> None:
    pol = unlimited(target_backlog_per_replica=None, target_latency_s=30.0, max_replicas=50)
    obs = Observation(
        backlog=100, in_flight=20, completion_rate_per_s=20.0, current_replicas=2
    )  # 2 replicas x concurrency 10 busy, 20/s done -> 10/s each
    decision = decide(obs, QueueState(), pol, NOW)
    assert decision.state.capacity_per_replica_per_s == pytest.approx(10.0)


def test_latency_and_backlog_targets_take_the_larger() -> None:
    pol = unlimited(target_latency_s=10.0, max_replicas=50)
    state = QueueState(capacity_per_replica_per_s=10.0)
    obs = Observation(backlog=300, arrival_rate_per_s=100.0, current_replicas=2)
    # backlog: 300/100 = 3; latency: (100 + 300/10)/10 = 13
    assert decide(obs, state, pol, NOW).desired == 13


@pytest.mark.parametrize(
    ("backlog", "in_flight", "activation", "desired", "reason"),
    [
        (0, 0, 0, 0, Reason.IDLE),
        (1, 0, 0, 1, Reason.ACTIVATION),
        (5, 0, 5, 0, Reason.IDLE),
        (6, 0, 5, 1, Reason.ACTIVATION),
        (0, 3, 5, 1, Reason.ACTIVATION),  # work in flight at zero replicas wakes too
        (3000, 0, 0, 4, Reason.RATE_LIMITED),  # HPA default: Pods 4 from zero
    ],
)
def test_activation_backlog_decides_between_zero_and_one(
    backlog: int, in_flight: int, activation: int, desired: int, reason: Reason
) -> None:
    pol = policy(min_replicas=0, activation_backlog=activation, max_replicas=50)
    obs = Observation(backlog=backlog, in_flight=in_flight, current_replicas=0)
    decision = decide(obs, QueueState(), pol, NOW)
    assert (decision.desired, decision.reason) == (desired, reason)


def test_a_late_task_wakes_a_queue_below_activation_backlog() -> None:
    pol = policy(min_replicas=0, activation_backlog=10, target_latency_s=60.0)
    obs = Observation(backlog=2, oldest_age_s=61.0, current_replicas=0)
    assert decide(obs, QueueState(), pol, NOW).desired == 1


@pytest.mark.parametrize(
    ("idle_s", "desired", "reason"),
    [(0.0, 1, Reason.COOLDOWN), (299.0, 1, Reason.COOLDOWN), (300.0, 0, Reason.SCALE_TO_ZERO)],
)
def test_cooldown_before_going_to_zero(idle_s: float, desired: int, reason: Reason) -> None:
    pol = unlimited(min_replicas=0, cooldown_s=300.0)
    state = QueueState(last_active_at=NOW - idle_s)
    decision = decide(Observation(current_replicas=1), state, pol, NOW)
    assert (decision.desired, decision.reason) == (desired, reason)


def test_first_observation_starts_the_cooldown_clock() -> None:
    pol = unlimited(min_replicas=0, cooldown_s=300.0)
    decision = decide(Observation(current_replicas=3), QueueState.initial(), pol, NOW)
    assert (decision.desired, decision.reason) == (1, Reason.COOLDOWN)
    assert decision.state.last_active_at == NOW


def test_min_replicas_holds_an_idle_queue() -> None:
    pol = unlimited(min_replicas=2)
    decision = decide(Observation(current_replicas=0), QueueState(), pol, NOW)
    assert (decision.desired, decision.reason) == (2, Reason.MIN_REPLICAS)


@pytest.mark.parametrize(
    ("in_flight", "max_replicas", "desired"),
    [(95, 50, 10), (100, 50, 10), (101, 50, 11), (500, 20, 20)],  # floor capped at max
)
def test_never_fewer_replicas_than_the_work_in_flight_needs(
    in_flight: int, max_replicas: int, desired: int
) -> None:
    pol = unlimited(target_backlog_per_replica=1000.0, max_replicas=max_replicas)
    obs = Observation(in_flight=in_flight, current_replicas=max_replicas)
    decision = decide(obs, QueueState(), pol, NOW)
    assert decision.desired == desired


def test_in_flight_floor_beats_the_scale_down_policies() -> None:
    pol = policy(
        target_backlog_per_replica=1000.0,
        scale_down=ScalingRules(0, SelectPolicy.DISABLED, ()),
        scale_up=ScalingRules(0, SelectPolicy.DISABLED, ()),
    )
    decision = decide(Observation(in_flight=60, current_replicas=4), QueueState(), pol, NOW)
    assert (decision.desired, decision.reason) == (6, Reason.IN_FLIGHT_FLOOR)


def test_never_zero_while_a_task_waits_even_within_activation_backlog() -> None:
    pol = unlimited(min_replicas=0, activation_backlog=5, cooldown_s=0.0)
    obs = Observation(backlog=3, current_replicas=2)
    decision = decide(obs, QueueState(last_active_at=0.0), pol, NOW)
    assert decision.desired == 1


def test_a_failed_observation_holds_the_replicas() -> None:
    pol = policy(fallback_replicas=1, failure_threshold=3)
    state = QueueState()
    for expected_failures in (1, 2):
        decision = decide(Observation.failed(current_replicas=6), state, pol, NOW)
        assert (decision.desired, decision.reason) == (6, Reason.OBSERVATION_FAILED)
        assert decision.state.consecutive_failures == expected_failures
        state = decision.state


@pytest.mark.parametrize(
    ("current", "fallback", "failures_before", "desired", "reason"),
    [
        (2, 5, 2, 5, Reason.FALLBACK),  # third failure: threshold reached
        (2, 5, 1, 2, Reason.OBSERVATION_FAILED),  # second failure: hold
        (7, 5, 2, 7, Reason.OBSERVATION_FAILED),  # fallback never lowers
        (2, None, 10, 2, Reason.OBSERVATION_FAILED),  # no fallback: hold forever
    ],
)
def test_fallback_replicas_after_the_failure_threshold_never_lowers(
    current: int, fallback: int | None, failures_before: int, desired: int, reason: Reason
) -> None:
    pol = policy(fallback_replicas=fallback, failure_threshold=3)
    state = QueueState(consecutive_failures=failures_before)
    decision = decide(Observation.failed(current_replicas=current), state, pol, NOW)
    assert (decision.desired, decision.reason) == (desired, reason)


def test_a_good_observation_resets_the_failure_count() -> None:
    state = QueueState(consecutive_failures=5)
    decision = decide(Observation(backlog=100, current_replicas=1), state, policy(), NOW)
    assert decision.state.consecutive_failures == 0


def test_scale_down_waits_for_the_stabilization_window() -> None:
    pol = policy()  # scaleDown window 300 s
    state = QueueState(recommendations=Recent(highs=(Recommendation(at=NOW - 100, replicas=10),)))
    held = decide(Observation(backlog=200, current_replicas=10), state, pol, NOW)
    assert (held.desired, held.reason) == (10, Reason.STABILIZATION)
    later = decide(Observation(backlog=200, current_replicas=10), held.state, pol, NOW + 201)
    assert later.desired == 2


def test_scale_up_stabilization_takes_the_lowest_recent_recommendation() -> None:
    pol = policy(scale_up=ScalingRules(60, policies=(RatePolicy(PolicyType.PODS, 100, 15),)))
    state = QueueState(recommendations=Recent(lows=(Recommendation(at=NOW - 30, replicas=3),)))
    decision = decide(Observation(backlog=900, current_replicas=2), state, pol, NOW)
    assert (decision.desired, decision.reason) == (3, Reason.STABILIZATION)


def test_scale_down_rate_policy_limits_each_period() -> None:
    rules = ScalingRules(0, policies=(RatePolicy(PolicyType.PODS, 1, 60),))
    pol = policy(scale_down=rules)
    first = decide(Observation(backlog=200, current_replicas=10), QueueState(), pol, NOW)
    assert (first.desired, first.reason) == (9, Reason.RATE_LIMITED)
    assert first.state.events == (ScaleEvent(at=NOW, change=-1),)
    again = decide(Observation(backlog=200, current_replicas=9), first.state, pol, NOW + 30)
    assert again.desired == 9
    after = decide(Observation(backlog=200, current_replicas=9), again.state, pol, NOW + 61)
    assert after.desired == 8


def test_select_policy_min_takes_the_smaller_change() -> None:
    up = ScalingRules(
        0,
        SelectPolicy.MIN,
        (RatePolicy(PolicyType.PERCENT, 100, 15), RatePolicy(PolicyType.PODS, 4, 15)),
    )
    decision = decide(
        Observation(backlog=5000, current_replicas=10),
        QueueState(),
        policy(scale_up=up, max_replicas=100),
        NOW,
    )
    assert decision.desired == 14  # min(10 * 2, 10 + 4)


def test_select_policy_disabled_forbids_that_direction() -> None:
    pol = policy(scale_down=ScalingRules(0, SelectPolicy.DISABLED, ()))
    decision = decide(Observation(backlog=0, current_replicas=8), QueueState(), pol, NOW)
    assert (decision.desired, decision.reason) == (8, Reason.RATE_LIMITED)


def test_disabled_autoscaling_leaves_replicas_alone() -> None:
    decision = decide(
        Observation(backlog=10_000, current_replicas=3), QueueState(), policy(enabled=False), NOW
    )
    assert (decision.desired, decision.reason) == (3, Reason.DISABLED)


def test_every_decision_says_why_in_words() -> None:
    pol = policy(max_replicas=50)
    decision = decide(Observation(backlog=3000, current_replicas=0), QueueState(), pol, NOW)
    assert decision.detail == (
        "waiting 3000 + in flight 0 over 100 per replica -> 30; scaleUp policies allow 4"
    )
    assert str(decision.reason) == "rate-limited"


# -- tasks held by workers, and delayed tasks ----------------------------------------------


@pytest.mark.parametrize(
    ("backlog", "held_dead", "current", "activation", "desired", "reason"),
    [
        (0, 250, 1, 0, 3, Reason.BACKLOG),  # sized for: back in the queue within seconds
        (50, 250, 1, 0, 3, Reason.BACKLOG),
        (0, 2, 1, 0, 1, Reason.STEADY),
        (0, 1, 0, 0, 1, Reason.ACTIVATION),  # wakes a queue at zero like a waiting task
        (0, 3, 0, 5, 0, Reason.IDLE),  # within activationBacklog, like a waiting task
        (2, 4, 0, 5, 1, Reason.ACTIVATION),  # 2 waiting + 4 held by the dead > 5
    ],
)
def test_tasks_held_by_dead_workers_count_as_waiting(
    backlog: int, held_dead: int, current: int, activation: int, desired: int, reason: Reason
) -> None:
    pol = unlimited(min_replicas=0, activation_backlog=activation)
    obs = Observation(backlog=backlog, held_dead=held_dead, current_replicas=current)
    decision = decide(obs, QueueState(), pol, NOW)
    assert (decision.desired, decision.reason) == (desired, reason)


def test_a_queue_never_goes_to_zero_while_dead_workers_hold_its_tasks() -> None:
    pol = unlimited(min_replicas=0, cooldown_s=0.0)
    obs = Observation(held_dead=1, current_replicas=3)
    decision = decide(obs, QueueState(last_active_at=0.0), pol, NOW)
    assert decision.desired == 1
    assert decision.state.last_active_at == NOW  # and the cooldown starts again after them
    assert decision.detail.startswith("waiting 0 + held by dead workers 1 + in flight 0")


@pytest.mark.parametrize("current", [0, 2])
def test_tasks_held_by_live_workers_keep_a_replica(current: int) -> None:
    """A worker holding ETA tasks due soon (not parked) is not scaled away under them."""
    pol = unlimited(min_replicas=0, cooldown_s=0.0)
    obs = Observation(held_live=3, current_replicas=current)
    decision = decide(obs, QueueState(last_active_at=0.0), pol, NOW)
    assert decision.desired == 1


@pytest.mark.parametrize(
    ("current", "due_in_s", "desired", "reason"),
    [
        (0, 500.0, 0, Reason.IDLE),  # far ahead: no replica-seconds spent waiting for it
        (0, 12.5, 0, Reason.IDLE),
        (0, 12.0, 1, Reason.DELAYED_DUE),  # podStartupSeconds 10 + next look 2
        (0, 3.0, 1, Reason.DELAYED_DUE),
        (0, -4.0, 1, Reason.DELAYED_DUE),  # overdue (not promoted yet)
        (1, 12.0, 1, Reason.DELAYED_DUE),  # kept for it, whatever the cooldown says
        (1, 500.0, 0, Reason.SCALE_TO_ZERO),  # only delayed work far ahead: may go to zero
        (3, 5.0, 1, Reason.DELAYED_DUE),
    ],
)
def test_delayed_tasks_wake_the_queue_podstartupseconds_plus_a_poll_ahead(
    current: int, due_in_s: float, desired: int, reason: Reason
) -> None:
    pol = unlimited(min_replicas=0, cooldown_s=60.0, pod_startup_s=10.0)
    obs = Observation(current_replicas=current, delayed=4, next_due_in_s=due_in_s,
                      next_look_in_s=2.0)  # fmt: skip
    decision = decide(obs, QueueState(last_active_at=NOW - 600), pol, NOW)
    assert (decision.desired, decision.reason) == (desired, reason)


def test_a_delayed_task_due_soon_counts_as_activity_for_the_cooldown() -> None:
    pol = unlimited(min_replicas=0, cooldown_s=60.0)
    soon = Observation(current_replicas=1, delayed=1, next_due_in_s=5.0, next_look_in_s=2.0)
    assert decide(soon, QueueState(last_active_at=0.0), pol, NOW).state.last_active_at == NOW
    later = Observation(current_replicas=1, delayed=1, next_due_in_s=900.0, next_look_in_s=2.0)
    assert decide(later, QueueState(last_active_at=0.0), pol, NOW).state.last_active_at == 0.0


def test_the_wake_up_and_the_wait_say_when_the_first_delayed_task_is_due() -> None:
    pol = policy(min_replicas=0, pod_startup_s=8.0)
    due = Observation(delayed=3, next_due_in_s=9.6, next_look_in_s=2.0)
    woken = decide(due, QueueState(), pol, NOW)
    assert woken.detail == "first of 3 delayed due in 10s <= podStartupSeconds 8 + next look 2s"
    far = due._replace(next_due_in_s=3600.0)
    idle = decide(far, QueueState(), pol, NOW)
    assert idle.detail == (
        "waiting 0 <= activationBacklog 0; 3 delayed, the first due in 3600s: woken 10s ahead"
    )
