"""Delayed tasks in the simulator: the trace's ``delay_s``, the delayed set as the controller
sees it, shoal's wake-up ahead of the due time, and KEDA's blindness to the delayed set."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scheduler.autoscaler.config import queue_policies_from_values
from scheduler.simulate.binned import bin_rows
from scheduler.simulate.controllers import QueueSpec
from scheduler.simulate.engine import SimSettings, simulate
from scheduler.simulate.keda import KedaController
from scheduler.simulate.report import build_report
from scheduler.simulate.service import ServiceKind
from scheduler.simulate.shoal_controller import ShoalController
from scheduler.simulate.trace import TraceError, TraceRow, parse_rows

DELAYED_HEADER = "time_s,queue,tasks,mean_service_s,delay_s"
ETA_TRACE = [
    DELAYED_HEADER,
    "0,eta,1,1,30",
    "0,eta,1,1,75",
    "10,eta,1,1,80",  # due at 90
    "20,eta,1,1,240",  # due at 260
]
"""Four countdown tasks of 1 s, due at 30, 75, 90 and 260 s: the issue's ETA scenario."""


def test_the_delay_column_is_optional_and_checked() -> None:
    old = parse_rows(["time_s,queue,tasks,mean_service_s", "1,a,2,0.5"])
    assert old == [TraceRow(1.0, "a", 2, 0.5, 0.0)]
    new = parse_rows([DELAYED_HEADER, "1,a,2,0.5,90", "2,a,1,0.5,0"])
    assert [r.delay_s for r in new] == [90.0, 0.0]
    with pytest.raises(TraceError, match=r"line 2: delay_s: expected seconds >= 0, got '-5'"):
        parse_rows([DELAYED_HEADER, "1,a,2,0.5,-5"])
    with pytest.raises(TraceError, match=r"line 2: delay_s: expected seconds >= 0, got 'nan'"):
        parse_rows([DELAYED_HEADER, "1,a,2,0.5,nan"])
    with pytest.raises(TraceError, match=r"line 2: expected 5 fields, got 4"):
        parse_rows([DELAYED_HEADER, "1,a,2,0.5"])
    with pytest.raises(TraceError, match=r"expected the header time_s,queue,tasks,mean_service_s"):
        parse_rows(["time_s,queue,tasks,mean_service_s,eta", "1,a,2,0.5,3"])


def test_delayed_tasks_wait_in_the_delayed_set_and_arrive_when_due() -> None:
    rows = parse_rows([DELAYED_HEADER, "2,a,3,1,5", "4,a,1,1,2.5", "4,b,2,1,0", "3,a,2,1,0.4"])
    trace = bin_rows(rows, tail_s=2)
    assert trace.steps == 7 + 1 + 2  # the last is due at 7 s
    assert trace.delayed is not None and trace.next_due_s is not None
    assert trace.arrivals[:, 0].tolist() == [0, 0, 0, 2, 0, 0, 1, 3, 0, 0]  # 3.4 s: step 3
    assert trace.delayed[:, 0].tolist() == [0, 0, 3, 3, 4, 4, 3, 0, 0, 0]
    assert (
        trace.next_due_s[:, 0].tolist() == [math.inf, math.inf, 7, 7, 6.5, 6.5, 7] + [math.inf] * 3
    )
    assert trace.delayed[:, 1].tolist() == [0] * 10  # delay 0: due at once
    assert bin_rows(parse_rows(["time_s,queue,tasks,mean_service_s", "1,a,1,1"])).delayed is None


def policies(**autoscaling: object) -> ShoalController:
    block = {"minReplicas": 0, "maxReplicas": 4, "targetBacklogPerReplica": 10,
             "cooldownSeconds": 0, "podStartupSeconds": 8,
             "scaleDown": {"stabilizationWindowSeconds": 0}, **autoscaling}  # fmt: skip
    values = {"queues": [{"name": "eta", "pool": "prefork", "concurrency": 2,
                          "autoscaling": block}]}  # fmt: skip
    return ShoalController(list(queue_policies_from_values(values)), poll_interval_s=2.0)


SPEC = QueueSpec("eta", "prefork", 2, 0, 4, None, 0)
SETTINGS = SimSettings(service=ServiceKind.DETERMINISTIC, start_delay_s=8, stop_delay_s=2,
                       tail_s=30)  # fmt: skip


def test_shoal_wakes_ahead_so_each_delayed_task_starts_when_due_and_idles_at_zero() -> None:
    trace = bin_rows(parse_rows(ETA_TRACE), tail_s=SETTINGS.tail_s)
    result = simulate(trace, [SPEC], policies(), SETTINGS)
    report = build_report(result).queues[0]
    assert report.completed == 4
    assert report.max_wait_s <= 2  # from the due time to the start
    replicas = result.history.replicas[:, 0]
    assert replicas[:20].max() == 0  # nothing due within the lead: at zero from the start
    assert replicas[150:240].max() == 0  # at zero between 90 and 260 s
    # Woken 8 s (startup) + up to one 2 s poll ahead of each due time, gone right after:
    # 3 wake-ups (30, 75-90 together, 260), about 10-14 replica-seconds each.
    assert report.replica_seconds <= 3 * 16 + 2 * 15  # the 75-90 s stretch stays up
    assert report.reasons.get("delayed-due", 0) >= 3
    assert report.replica_seconds < 0.3 * trace.steps


def test_keda_cannot_see_the_delayed_set_and_starts_the_tasks_late() -> None:
    trace = bin_rows(parse_rows(ETA_TRACE), tail_s=SETTINGS.tail_s)
    keda = build_report(simulate(trace, [SPEC], KedaController([SPEC]), SETTINGS)).queues[0]
    shoal = build_report(simulate(trace, [SPEC], policies(), SETTINGS)).queues[0]
    assert keda.completed == shoal.completed == 4
    assert keda.max_wait_s >= SETTINGS.start_delay_s  # woken only once the task is in the list
    assert shoal.max_wait_s < keda.max_wait_s


@pytest.mark.parametrize("startup", [0, 4, 8, 20])
def test_an_allowance_below_the_real_start_delay_starts_tasks_that_much_late(
    startup: int,
) -> None:
    """podStartupSeconds is what the policy counts on; pods take ``start_delay_s``: a short
    allowance shows as waits, a long one as replica-seconds."""
    trace = bin_rows(parse_rows(ETA_TRACE), tail_s=SETTINGS.tail_s)
    result = simulate(trace, [SPEC], policies(podStartupSeconds=startup), SETTINGS)
    report = build_report(result).queues[0]
    late = max(0, SETTINGS.start_delay_s - startup)
    assert report.max_wait_s <= late + 2
    if startup >= SETTINGS.start_delay_s:
        assert report.max_wait_s <= 2


def test_delayed_work_far_ahead_is_simulated_without_asking_at_every_poll() -> None:
    """A day with one delayed task an hour: the policy's holds cover the quiet polls between
    the wake-ups (the delayed set far ahead changes no answer)."""
    lines = [DELAYED_HEADER] + [f"{h * 3600},eta,1,1,1800" for h in range(24)]
    trace = bin_rows(parse_rows(lines), tail_s=60)
    controller = policies()
    result = simulate(trace, [SPEC], controller, SETTINGS)
    assert build_report(result).queues[0].completed == 24
    polls = math.ceil(trace.steps / 2)
    assert controller.asked < polls / 20
    assert int(np.count_nonzero(np.diff(result.history.replicas[:, 0]))) == 2 * 24
