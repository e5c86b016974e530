"""The HPA's ``behavior``: stabilization windows and scaling rate policies. Pure.

Follows the Kubernetes HPA controller (``stabilizeRecommendationWithBehaviors`` and
``calculateScaleUpLimitWithScalingRules`` / ``calculateScaleDownLimitWithBehaviors``):

- stabilization: the up-recommendation is the lowest raw recommendation within the scaleUp
  window, the down-recommendation the highest within the scaleDown window; the result is the
  current replicas moved into [up, down].
- rate policies: each policy proposes a limit from the replicas at the start of its period
  (current minus the changes made within the period); ``selectPolicy: Max`` takes the policy
  allowing the biggest change, ``Min`` the smallest, ``Disabled`` forbids the direction.
"""

from __future__ import annotations

import math

from scheduler.autoscaler.config import PolicyType, ScalingRules, SelectPolicy
from scheduler.autoscaler.model import Recommendation, ScaleEvent


def stabilize(
    raw: int,
    current: int,
    recommendations: tuple[Recommendation, ...],
    *,
    up: ScalingRules,
    down: ScalingRules,
    now: float,
) -> tuple[int, tuple[Recommendation, ...]]:
    """The stabilized replicas and the recommendations to keep (``raw`` added)."""
    up_cutoff = now - up.stabilization_window_s
    down_cutoff = now - down.stabilization_window_s
    up_rec = down_rec = raw
    for rec in recommendations:
        value = rec.replicas
        if value < up_rec and rec.at > up_cutoff:
            up_rec = value
        if value > down_rec and rec.at > down_cutoff:
            down_rec = value
    result = min(max(current, up_rec), down_rec)
    keep_after = now - max(up.stabilization_window_s, down.stabilization_window_s)
    kept = [r for r in recommendations if r.at > keep_after]
    kept.append(Recommendation(at=now, replicas=raw))
    return result, undominated(kept)


def undominated(recommendations: list[Recommendation]) -> tuple[Recommendation, ...]:
    """The recommendations a window can still need, oldest first.

    A recommendation followed by a later one at least as high can never be a window's maximum
    (the later one stays in every window longer), and one followed by a later one at least as
    low never its minimum; one that is both is dropped. Under a steady load one entry remains,
    so the history stays short however long the windows are. The answers are unchanged.
    """
    out: list[Recommendation] = []
    later_max = later_min = recommendations[-1].replicas if recommendations else 0
    for rec in reversed(recommendations):
        value = rec.replicas
        if not out or value > later_max or value < later_min:
            out.append(rec)
        if value > later_max:
            later_max = value
        elif value < later_min:
            later_min = value
    out.reverse()
    return tuple(out)


def changes_in_period(
    events: tuple[ScaleEvent, ...], period_s: float, now: float
) -> tuple[int, int]:
    """(replicas added, replicas removed) by the events within the last ``period_s``."""
    cutoff = now - period_s
    added = sum(e.change for e in events if e.at > cutoff and e.change > 0)
    removed = -sum(e.change for e in events if e.at > cutoff and e.change < 0)
    return added, removed


def replicas_at_period_start(
    current: int, events: tuple[ScaleEvent, ...], period_s: float, now: float
) -> int:
    """The replicas ``period_s`` ago: ``current`` less the changes made within the period."""
    added, removed = changes_in_period(events, period_s, now)
    return current - added + removed


def scale_up_limit(
    current: int, events: tuple[ScaleEvent, ...], rules: ScalingRules, now: float
) -> int:
    """The most replicas the scaleUp policies allow now (never below ``current``)."""
    if rules.select_policy is SelectPolicy.DISABLED or not rules.policies:
        return current
    proposals = []
    for policy in rules.policies:
        start = replicas_at_period_start(current, events, policy.period_s, now)
        if policy.type is PolicyType.PODS:
            proposals.append(start + policy.value)
        else:
            proposals.append(math.ceil(start * (1 + policy.value / 100)))
    pick = min if rules.select_policy is SelectPolicy.MIN else max
    return max(pick(proposals), current)


def scale_down_limit(
    current: int, events: tuple[ScaleEvent, ...], rules: ScalingRules, now: float
) -> int:
    """The fewest replicas the scaleDown policies allow now (never above ``current``)."""
    if rules.select_policy is SelectPolicy.DISABLED or not rules.policies:
        return current
    proposals = []
    for policy in rules.policies:
        start = replicas_at_period_start(current, events, policy.period_s, now)
        if policy.type is PolicyType.PODS:
            proposals.append(start - policy.value)
        else:
            proposals.append(int(start * (1 - policy.value / 100)))
    # Max change when scaling down is the lowest replica count, so "Max" picks the minimum.
    pick = max if rules.select_policy is SelectPolicy.MIN else min
    return max(min(pick(proposals), current), 0)


def limit_rate(
    desired: int,
    current: int,
    events: tuple[ScaleEvent, ...],
    *,
    up: ScalingRules,
    down: ScalingRules,
    now: float,
) -> int:
    """``desired`` moved no further from ``current`` than the policies allow."""
    if desired > current:
        return min(desired, scale_up_limit(current, events, up, now))
    if desired < current:
        return max(desired, scale_down_limit(current, events, down, now))
    return desired


def prune_events(
    events: tuple[ScaleEvent, ...], up: ScalingRules, down: ScalingRules, now: float
) -> tuple[ScaleEvent, ...]:
    """The events some policy still needs: those within the longest period."""
    if not events:
        return events
    longest = max((p.period_s for p in (*up.policies, *down.policies)), default=0)
    return tuple(e for e in events if e.at > now - longest)
