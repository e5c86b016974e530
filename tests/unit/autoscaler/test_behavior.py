"""The HPA behavior pieces: stabilization and rate policies, against a naive reference."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.autoscaler.behavior import scale_down_limit, scale_up_limit, stabilize
from scheduler.autoscaler.config import PolicyType, RatePolicy, ScalingRules, SelectPolicy
from scheduler.autoscaler.model import Recent, Recommendation, ScaleEvent


def naive_stabilize(
    raw: int, current: int, history: list[tuple[float, int]], up_w: int, down_w: int, now: float
) -> int:
    """The HPA's loop over every recommendation ever kept."""
    up = min([raw] + [v for t, v in history if t > now - up_w])
    down = max([raw] + [v for t, v in history if t > now - down_w])
    return min(max(current, up), down)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([1.0, 2.0, 7.0, 30.0]), st.integers(0, 30)), max_size=120),
    st.sampled_from([0, 10, 60]),
    st.sampled_from([0, 30, 300]),
    st.integers(0, 30),
)
def test_pruned_history_gives_the_same_answers_as_the_full_one(
    seq: list[tuple[float, int]], up_w: int, down_w: int, current: int
) -> None:
    up = ScalingRules(up_w, policies=(RatePolicy(PolicyType.PODS, 4, 15),))
    down = ScalingRules(down_w, policies=(RatePolicy(PolicyType.PODS, 4, 15),))
    kept = Recent()
    full: list[tuple[float, int]] = []
    now = 0.0
    for dt, raw in seq:
        now += dt
        expected = naive_stabilize(raw, current, full, up_w, down_w, now)
        got, kept = stabilize(raw, current, kept, up=up, down=down, now=now)
        assert got == expected
        full.append((now, raw))
    highs, lows = kept
    assert [r.replicas for r in highs] == sorted({r.replicas for r in highs}, reverse=True)
    assert [r.replicas for r in lows] == sorted({r.replicas for r in lows})


def test_a_steady_load_keeps_one_recommendation() -> None:
    rules = ScalingRules(300, policies=(RatePolicy(PolicyType.PODS, 1, 15),))
    kept = Recent()
    for i in range(200):
        _, kept = stabilize(5, 5, kept, up=rules, down=rules, now=float(i * 2))
    latest = (Recommendation(at=398.0, replicas=5),)
    assert kept == Recent(highs=latest, lows=latest)


def test_rate_limits_follow_the_hpa_formulas() -> None:
    rules = ScalingRules(
        0,
        SelectPolicy.MAX,
        (RatePolicy(PolicyType.PERCENT, 100, 15), RatePolicy(PolicyType.PODS, 4, 15)),
    )
    assert scale_up_limit(3, (), rules, now=100.0) == 7  # max(3 * 2, 3 + 4)
    assert scale_up_limit(10, (), rules, now=100.0) == 20
    # 4 added 5 s ago: the period started at 6 replicas
    assert scale_up_limit(10, (ScaleEvent(95.0, 4),), rules, now=100.0) == 12
    percent = ScalingRules(0, SelectPolicy.MAX, (RatePolicy(PolicyType.PERCENT, 50, 60),))
    assert scale_down_limit(9, (), percent, now=0.0) == math.floor(9 * 0.5)
    # 3 removed 10 s ago: the period started at 12, and 50% of 12 may go: down to 6
    assert scale_down_limit(9, (ScaleEvent(-10.0, -3),), percent, now=0.0) == 6
