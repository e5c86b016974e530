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

from scheduler.autoscaler.model import Recent, Recommendation, ScaleEvent
from scheduler.autoscaler.rules import PolicyType, ScalingRules, SelectPolicy


def stabilize(
    raw: int,
    current: int,
    recent: Recent,
    *,
    up: ScalingRules,
    down: ScalingRules,
    now: float,
) -> tuple[int, Recent]:
    """The stabilized replicas and the recommendations to keep (``raw`` added).

    The HPA keeps every raw recommendation and, at each sync, takes the lowest within the
    scaleUp window and the highest within the scaleDown window. Only some can ever be that
    answer: a recommendation followed by a later one at least as high is never a window's
    highest again (the later one stays in every window longer), and one followed by a later one
    at least as low never its lowest. So :class:`Recent` keeps, per window, the sliding-window
    maximum (``highs``, falling over time) and minimum (``lows``, rising): the first entry still
    in its window is the answer, and dropping the entries ``raw`` dominates is one pass. Under
    a steady load each holds one entry, however long the windows; the answers are the HPA's.
    """
    down_cutoff = now - down.stabilization_window_s
    highs = [r for r in recent.highs if r.at > down_cutoff and r.replicas > raw]
    down_rec = highs[0].replicas if highs else raw
    up_cutoff = now - up.stabilization_window_s
    lows = [r for r in recent.lows if r.at > up_cutoff and r.replicas < raw]
    up_rec = lows[0].replicas if lows else raw
    latest = Recommendation(now, raw)
    return min(max(current, up_rec), down_rec), Recent((*highs, latest), (*lows, latest))


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
    proposals = _proposals(current, events, rules, now, up=True)
    pick = min if rules.select_policy is SelectPolicy.MIN else max
    return max(pick(proposals), current)


def scale_down_limit(
    current: int, events: tuple[ScaleEvent, ...], rules: ScalingRules, now: float
) -> int:
    """The fewest replicas the scaleDown policies allow now (never above ``current``)."""
    if rules.select_policy is SelectPolicy.DISABLED or not rules.policies:
        return current
    proposals = _proposals(current, events, rules, now, up=False)
    # Max change when scaling down is the lowest replica count, so "Max" picks the minimum.
    pick = max if rules.select_policy is SelectPolicy.MIN else min
    return max(min(pick(proposals), current), 0)


def _proposals(
    current: int, events: tuple[ScaleEvent, ...], rules: ScalingRules, now: float, *, up: bool
) -> list[int]:
    """Each policy's limit: from the replicas at its period's start, ``value`` pods or percent
    more (scaleUp, a percentage rounded up) or fewer (scaleDown, rounded down), as the HPA."""
    proposals = []
    for policy in rules.policies:
        start = replicas_at_period_start(current, events, policy.period_s, now)
        if policy.type is PolicyType.PODS:
            proposals.append(start + policy.value if up else start - policy.value)
        elif up:
            proposals.append(math.ceil(start * (1 + policy.value / 100)))
        else:
            proposals.append(int(start * (1 - policy.value / 100)))
    return proposals


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
