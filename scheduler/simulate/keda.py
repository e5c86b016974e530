"""The ``keda`` baseline: KEDA's defaults with the Redis list scaler, and the HPA it creates.

What is modelled (KEDA 2.x defaults, Kubernetes HPA v2 defaults):

- The metric is ``LLEN`` of the queue's base list only: tasks in the priority sub-lists and
  tasks already held by workers (prefetched or running) are invisible to it.
- The KEDA operator polls every ``pollingInterval`` (30 s). Active means
  ``LLEN > activationListLength`` (0). From 0 replicas an active queue goes to 1; a queue that
  has not been active for ``cooldownPeriod`` (300 s) goes from any count to 0 in one step
  (with ``minReplicaCount`` 0).
- While replicas > 0 the HPA syncs every 15 s with an ``AverageValue`` target of
  ``listLength`` (5): ``ceil(LLEN / 5)``, kept when within the 10 % tolerance; scale-up
  stabilization 0 s and at most ``max(+100 %, +4 pods)`` per 15 s; scale-down stabilization
  300 s (the highest recommendation of the last 300 s) and 100 % per 15 s; bounded by
  ``[max(minReplicaCount, 1), maxReplicaCount]``.

``minReplicaCount``/``maxReplicaCount`` are the queue's ``minReplicas``/``maxReplicas`` from the
values file, so both policies get the same bounds. A queue without autoscaling gets no
ScaledObject: it keeps its fixed replicas, as under shoal.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from scheduler.simulate.controllers import IntArray, QueueSpec, View


@dataclass(frozen=True)
class KedaSettings:
    polling_interval_s: float = 30.0
    hpa_sync_period_s: float = 15.0
    list_length: int = 5
    activation_list_length: int = 0
    cooldown_period_s: float = 300.0
    tolerance: float = 0.1
    scale_up_percent: int = 100
    scale_up_pods: int = 4
    scale_up_period_s: float = 15.0
    scale_down_stabilization_s: float = 300.0
    scale_down_percent: int = 100
    scale_down_period_s: float = 15.0


@dataclass
class HpaState:
    """One queue's HPA and KEDA memory: recommendations, recent scale events, last activity."""

    recommendations: deque[tuple[float, int]] = field(default_factory=deque)
    """(time, replicas) of the stabilization window, decreasing in replicas: the first is
    the window's highest (the ones below a later one are dropped, as they never will be)."""
    events: deque[tuple[float, int]] = field(default_factory=deque)
    last_active_s: float | None = None


def hpa_recommendation(metric: int, current: int, settings: KedaSettings) -> int:
    """The HPA's raw replica count for an ``AverageValue`` external metric."""
    ratio = metric / (settings.list_length * current)
    if abs(ratio - 1.0) <= settings.tolerance:
        return current
    return math.ceil(metric / settings.list_length)


def hpa_desired(
    state: HpaState,
    *,
    metric: int,
    current: int,
    now_s: float,
    bounds: tuple[int, int],
    settings: KedaSettings,
) -> int:
    """One HPA sync for one queue (``current`` > 0): stabilized, rate-limited, bounded."""
    raw = hpa_recommendation(metric, current, settings)
    recommendations = state.recommendations
    # kept decreasing: an older recommendation not above a newer one is never the window's max
    while recommendations and recommendations[-1][1] <= raw:
        recommendations.pop()
    recommendations.append((now_s, raw))
    cutoff = now_s - settings.scale_down_stabilization_s
    while recommendations[0][0] < cutoff:
        recommendations.popleft()
    down = recommendations[0][1]  # the highest recommendation of the window
    desired = min(max(current, raw), down)
    horizon = now_s - max(settings.scale_up_period_s, settings.scale_down_period_s)
    while state.events and state.events[0][0] <= horizon:
        state.events.popleft()
    if desired > current:
        added = sum(d for t, d in state.events if d > 0 and t > now_s - settings.scale_up_period_s)
        start = current - added
        limit = max(
            math.ceil(start * (1 + settings.scale_up_percent / 100)),
            start + settings.scale_up_pods,
        )
        desired = min(desired, limit)
    elif desired < current:
        removed = -sum(
            d for t, d in state.events if d < 0 and t > now_s - settings.scale_down_period_s
        )
        start = current + removed
        desired = max(desired, math.floor(start * (1 - settings.scale_down_percent / 100)))
    low, high = bounds
    return min(max(desired, max(low, 1)), high)


class KedaController:
    def __init__(self, queues: list[QueueSpec], settings: KedaSettings | None = None) -> None:
        self.name = "keda"
        self.settings = settings or KedaSettings()
        self.poll_interval_s = self.settings.hpa_sync_period_s
        self.queues = queues
        self.states = [HpaState() for _ in queues]
        self._next_operator_s = 0.0
        self._reasons: list[dict[str, int]] = [{} for _ in queues]

    def initial_replicas(self) -> IntArray:
        return np.array([q.start_replicas for q in self.queues], dtype=np.int64)

    def reasons(self) -> list[dict[str, int]]:
        return self._reasons

    def poll(self, view: View) -> IntArray:
        desired = view.replicas.copy()
        operator_runs = view.now_s >= self._next_operator_s
        if operator_runs:
            self._next_operator_s = view.now_s + self.settings.polling_interval_s
        replicas = view.replicas.tolist()
        metrics = view.base_backlog.tolist()
        for i, spec in enumerate(self.queues):
            if spec.fixed_replicas is not None:
                continue  # no ScaledObject: the Deployment keeps its replicas
            current = replicas[i]
            metric = metrics[i]
            if operator_runs:
                target = self._operator(i, spec, metric, current, view.now_s)
            elif current > 0:
                target = self._hpa(i, spec, metric, current, view.now_s)
            else:
                continue
            if target != current:
                self.states[i].events.append((view.now_s, target - current))
                desired[i] = target
        return desired

    def _operator(self, i: int, spec: QueueSpec, metric: int, current: int, now_s: float) -> int:
        state = self.states[i]
        active = metric > self.settings.activation_list_length
        if active:
            state.last_active_s = now_s
        if current == 0:
            if active:
                self._count(i, "keda-activation")
                return max(spec.min_replicas, 1)
            return max(current, spec.min_replicas)
        cooled = state.last_active_s is None or (
            now_s - state.last_active_s >= self.settings.cooldown_period_s
        )
        if not active and spec.min_replicas == 0 and cooled:
            self._count(i, "keda-cooldown-to-zero")
            state.recommendations.clear()
            return 0
        return self._hpa(i, spec, metric, current, now_s)

    def _hpa(self, i: int, spec: QueueSpec, metric: int, current: int, now_s: float) -> int:
        target = hpa_desired(
            self.states[i],
            metric=metric,
            current=current,
            now_s=now_s,
            bounds=(spec.min_replicas, spec.max_replicas),
            settings=self.settings,
        )
        self._count(i, "hpa-up" if target > current else "hpa-down" if target < current else "hpa")
        return target

    def _count(self, i: int, reason: str) -> None:
        self._reasons[i][reason] = self._reasons[i].get(reason, 0) + 1
