"""The keda baseline: the HPA's AverageValue maths, its behavior defaults, KEDA's 0<->1 rules."""

from __future__ import annotations

import numpy as np
import pytest

from scheduler.simulate.controllers import QueueSpec, View
from scheduler.simulate.keda import (
    HpaState,
    KedaController,
    KedaSettings,
    hpa_desired,
    hpa_recommendation,
)

K = KedaSettings()
SPEC = QueueSpec("q", "prefork", 4, 0, 50, None, 1)


@pytest.mark.parametrize(
    ("metric", "current", "expected"),
    [
        (0, 3, 0),
        (5, 1, 1),
        (21, 4, 4),  # 21 / (5 * 4) = 1.05: within the 10 % tolerance
        (12, 2, 3),
        (100, 1, 20),
        (9, 2, 2),  # 0.9: within tolerance
        (8, 2, 2),
        (7, 2, 2),  # ceil(7 / 5) = 2
        (4, 2, 1),
    ],
)
def test_average_value_recommendation(metric: int, current: int, expected: int) -> None:
    assert hpa_recommendation(metric, current, K) == expected


def test_scale_up_is_limited_to_double_or_plus_four_per_period() -> None:
    state = HpaState()
    desired = hpa_desired(state, metric=1000, current=1, now_s=0, bounds=(0, 50), settings=K)
    assert desired == 5  # max(1 * 2, 1 + 4)
    state.events.append((0.0, 4))
    # 15 s later a new period starts from 5: max(10, 9)
    assert hpa_desired(state, metric=1000, current=5, now_s=15, bounds=(0, 50), settings=K) == 10


def test_scale_down_waits_for_the_300_second_window() -> None:
    state = HpaState()
    assert hpa_desired(state, metric=50, current=10, now_s=0, bounds=(0, 50), settings=K) == 10
    for now in range(15, 300, 15):
        assert hpa_desired(state, metric=0, current=10, now_s=now, bounds=(0, 50), settings=K) == 10
    # the 10 recommended at 0 s has left the window: down to the HPA's floor of 1
    assert hpa_desired(state, metric=0, current=10, now_s=301, bounds=(0, 50), settings=K) == 1


def _view(now: float, *, llen: int, replicas: int, in_flight: int = 0) -> View:
    def vec(v: int) -> np.ndarray:
        return np.array([v], dtype=np.int64)

    return View(
        now_s=now,
        backlog=vec(llen),
        base_backlog=vec(llen),
        in_flight=vec(in_flight),
        oldest_age_s=np.array([0.0]),
        published=vec(0),
        completed=vec(0),
        replicas=vec(replicas),
        delayed=vec(0),
        next_due_s=np.array([np.inf]),
    )


def test_activation_waits_for_the_operator_poll_and_goes_to_one() -> None:
    keda = KedaController([SPEC])
    assert keda.poll(_view(0, llen=0, replicas=0)).tolist() == [0]
    # the HPA does nothing at zero replicas, the operator only looks every 30 s
    assert keda.poll(_view(15, llen=500, replicas=0)).tolist() == [0]
    assert keda.poll(_view(30, llen=500, replicas=0)).tolist() == [1]
    assert keda.poll(_view(45, llen=500, replicas=1)).tolist() == [5]


def test_busy_workers_with_an_empty_list_go_to_zero_after_the_cooldown() -> None:
    """KEDA cannot see tasks workers hold: an empty list for 300 s means zero replicas."""
    keda = KedaController([SPEC])
    replicas = int(keda.poll(_view(0, llen=10, replicas=0))[0])
    assert replicas == 1
    history = {}
    for now in range(15, 346, 15):
        replicas = int(keda.poll(_view(now, llen=0, replicas=replicas, in_flight=8))[0])
        history[now] = replicas
    assert history[285] == 1
    assert history[300] == 0  # 300 s after the list was last seen non-empty, 8 tasks in flight
    assert history[345] == 0
    assert keda.reasons()[0]["keda-cooldown-to-zero"] == 1
