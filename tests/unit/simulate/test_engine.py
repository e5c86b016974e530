"""Whole runs: a static pool drains a burst as the arithmetic says; shoal's decide drives pods."""

from __future__ import annotations

import numpy as np
import pytest

import scheduler.autoscaler.policy
from scheduler.autoscaler.config import queue_policies_from_values
from scheduler.simulate import shoal_controller
from scheduler.simulate.binned import Trace, bin_rows
from scheduler.simulate.controllers import QueueSpec, StaticController
from scheduler.simulate.engine import SimSettings, simulate
from scheduler.simulate.keda import KedaController
from scheduler.simulate.report import build_report, oldest_age_steps, quantile, wait_distribution
from scheduler.simulate.service import ServiceKind
from scheduler.simulate.shoal_controller import ShoalController
from scheduler.simulate.trace import parse_rows

DETERMINISTIC = SimSettings(service=ServiceKind.DETERMINISTIC, start_delay_s=5, tail_s=600)


def burst(tasks: int, service_s: float, *, at_s: int = 0, tail_s: float = 600) -> Trace:
    lines = ["time_s,queue,tasks,mean_service_s", f"{at_s},q,{tasks},{service_s}"]
    return bin_rows(parse_rows(lines), tail_s=tail_s)


def spec(concurrency: int, *, min_replicas: int = 0) -> QueueSpec:
    return QueueSpec("q", "prefork", concurrency, min_replicas, 20, 30.0, 0)


def shoal_policy(**autoscaling: object) -> ShoalController:
    block = {"minReplicas": 0, "maxReplicas": 20, "targetBacklogPerReplica": 10, **autoscaling}
    values = {"queues": [{"name": "q", "pool": "prefork", "concurrency": 2, "autoscaling": block}]}
    return ShoalController(list(queue_policies_from_values(values)), poll_interval_s=2.0)


def test_the_simulator_calls_the_autoscalers_own_decide() -> None:
    assert vars(shoal_controller)["decide"] is scheduler.autoscaler.policy.decide


def test_a_static_pool_drains_a_burst_at_its_capacity() -> None:
    # 300 tasks of 1 s on 5 replicas x 2 slots: 10 start per step, for 30 steps.
    trace = burst(300, 1.0, tail_s=40)
    result = simulate(trace, [spec(2)], StaticController([spec(2)], 5), DETERMINISTIC)
    report = build_report(result).queues[0]
    assert report.completed == 300
    assert report.max_wait_s == 29
    assert report.p50_wait_s == 14
    assert report.p95_wait_s == 28
    assert report.drain_time_s == 30
    assert report.replica_seconds == 5 * trace.steps
    assert report.scale_events == 0
    assert report.time_above_target_s == 0  # the oldest waited 29 s at most: never above 30


def test_shoal_wakes_a_queue_at_zero_drains_it_and_returns_to_zero_after_the_cooldown() -> None:
    trace = burst(400, 1.0, at_s=3, tail_s=900)
    result = simulate(trace, [spec(2)], shoal_policy(cooldownSeconds=120), DETERMINISTIC)
    h = result.history
    first_up = int(np.argmax(h.replicas[:, 0] > 0))
    assert 3 <= first_up <= 3 + 2 * 2  # within two poll intervals of the burst
    report = build_report(result).queues[0]
    assert report.completed == 400
    assert report.peak_replicas >= 5  # 1 -> 5 -> 10 by the scaleUp policies (15 s periods)
    assert h.replicas[-1, 0] == 0
    reasons = report.reasons
    # from zero the scaleUp policies allow +4 pods per 15 s, then +100 %
    assert h.replicas[first_up, 0] == 4
    assert reasons["rate-limited"] >= 1
    assert reasons["scale-to-zero"] == 1
    # never zero while work waits or runs
    working = (h.waiting[:, 0] + h.running[:, 0]) > 0
    assert not np.any(working[first_up + 1 :] & (h.replicas[first_up + 1 :, 0] == 0))


def test_tasks_in_priority_lists_are_invisible_to_keda_but_not_to_shoal() -> None:
    trace = burst(50, 1.0, tail_s=400)
    hidden = SimSettings(service=ServiceKind.DETERMINISTIC, priority_fraction=1.0, tail_s=400)
    keda = build_report(simulate(trace, [spec(2)], KedaController([spec(2)]), hidden))
    shoal = build_report(simulate(trace, [spec(2)], shoal_policy(), hidden))
    assert keda.queues[0].completed == 0
    assert keda.queues[0].peak_replicas == 0
    assert shoal.queues[0].completed == 50


class Recorder(ShoalController):
    def __init__(self) -> None:
        super().__init__(
            list(
                queue_policies_from_values(
                    {
                        "queues": [
                            {
                                "name": "q",
                                "pool": "gevent",
                                "concurrency": 5,
                                "autoscaling": {"minReplicas": 1, "targetBacklogPerReplica": 50},
                            }
                        ]
                    }
                )
            ),
            poll_interval_s=2.0,
        )
        self.seen: list[tuple[float, int, int, float, int]] = []

    def poll(self, view):  # type: ignore[no-untyped-def]
        self.seen.append(
            (
                view.now_s,
                int(view.backlog[0]),
                int(view.in_flight[0]),
                float(view.oldest_age_s[0]),
                int(view.completed[0]),
            )
        )
        return super().poll(view)


def test_the_observation_counts_prefetched_tasks_as_in_flight_not_as_backlog() -> None:
    # prefork with prefetchMultiplier 4: 1 replica x 5 slots holds 20 tasks; 100 tasks of 10 s.
    trace = burst(100, 10.0, tail_s=30)
    controller = Recorder()
    q = QueueSpec("q", "prefork", 5, 1, 10, None, 15)
    simulate(trace, [q], controller, DETERMINISTIC)
    now, backlog, in_flight, oldest, completed = controller.seen[1]
    assert (now, completed) == (2.0, 0)
    assert in_flight == 20  # 5 running + 15 reserved by the worker
    assert backlog + in_flight == 100
    assert oldest == 2.0


def test_wait_distribution_from_cumulative_curves() -> None:
    published = np.array([3, 3, 5, 5])  # 3 tasks at step 0, 2 at step 2
    started = np.array([1, 2, 4, 5])  # one per step, two at step 2
    waits, weights = wait_distribution(published, started)
    pairs = sorted(zip(waits.tolist(), weights.tolist(), strict=True))
    # task 1 waits 0, task 2 waits 1, task 3 waits 2 (started at 2), task 4 waits 0, task 5 waits 1
    assert sum(w for _, w in pairs) == 5
    assert quantile(waits, weights, 0.5) == 1
    assert quantile(waits, weights, 1.0) == 2
    expanded = sorted(w for w, n in pairs for _ in range(n))
    assert expanded == [0, 0, 1, 1, 2]
    ages = oldest_age_steps(published, started, published - started)
    assert ages.tolist() == [0, 1, 0, 0]  # at step 2 only task 5 (published at 2) waits


@pytest.mark.parametrize("kind", list(ServiceKind))
def test_every_published_task_is_accounted_for_in_the_history(kind: ServiceKind) -> None:
    trace = burst(500, 0.7, tail_s=120)
    settings = SimSettings(service=kind, start_delay_s=3, tail_s=120)
    result = simulate(trace, [spec(4)], shoal_policy(), settings)
    h = result.history
    total = h.waiting[:, 0] + h.running[:, 0] + h.completed[:, 0]
    assert np.array_equal(total, result.published[:, 0])
    assert h.completed[-1, 0] == 500
