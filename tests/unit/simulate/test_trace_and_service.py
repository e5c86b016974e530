"""Trace parsing and binning; the service models conserve tasks and serve FIFO at capacity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.simulate.binned import bin_rows
from scheduler.simulate.service import DeterministicService, ExponentialService
from scheduler.simulate.trace import TraceError, parse_rows

HEADER = "time_s,queue,tasks,mean_service_s"


def rows(*lines: str) -> list[str]:
    return [HEADER, *lines]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("x,emails,3,0.3", "line 2: time_s: expected seconds >= 0, got 'x'"),
        ("-1,emails,3,0.3", "line 2: time_s: expected seconds >= 0, got '-1'"),
        ("1,,3,0.3", "line 2: queue: empty"),
        ("1,emails,2.5,0.3", "line 2: tasks: expected an integer >= 0, got '2.5'"),
        ("1,emails,3,0", "line 2: mean_service_s: expected seconds > 0, got '0'"),
        ("1,emails,3", "line 2: expected 4 fields, got 3"),
        ("nan,emails,3,0.3", "line 2: time_s: expected seconds >= 0, got 'nan'"),
        ("inf,emails,3,0.3", "line 2: time_s: expected seconds >= 0, got 'inf'"),
        ("1,emails,nan,0.3", "line 2: tasks: expected an integer >= 0, got 'nan'"),
        ("1,emails,-1,0.3", "line 2: tasks: expected an integer >= 0, got '-1'"),
        ("1,emails,1e3,0.3", "line 2: tasks: expected an integer >= 0, got '1e3'"),
        ("1,emails,3,NaN", "line 2: mean_service_s: expected seconds > 0, got 'NaN'"),
        ("1,emails,3,inf", "line 2: mean_service_s: expected seconds > 0, got 'inf'"),
        ("1,emails,3,-0.3", "line 2: mean_service_s: expected seconds > 0, got '-0.3'"),
        (
            "1,a:b,3,0.3",
            "line 2: queue: expected a queue name (1-63 letters, digits, _ . -, starting and "
            "ending with a letter or digit), got 'a:b'",
        ),
    ],
)
def test_a_bad_value_is_reported_with_its_line_and_field(line: str, message: str) -> None:
    with pytest.raises(TraceError) as err:
        parse_rows(rows(line), source="t.csv")
    assert str(err.value) == f"t.csv: {message}"


def test_a_wrong_header_is_refused() -> None:
    with pytest.raises(TraceError, match="line 1: expected the header time_s,queue,tasks"):
        parse_rows(["time,queue,n,s", "1,a,1,1"])


def test_rows_in_the_same_step_add_up_and_service_time_carries_forward() -> None:
    parsed = parse_rows(rows("0,a,2,0.5", "0.4,a,3,0.5", "2,b,1,4", "5,a,1,1.5"))
    trace = bin_rows(parsed, step_s=1.0, tail_s=3.0)
    assert trace.queues == ("a", "b")
    assert trace.steps == 6 + 3
    assert trace.arrivals[:, 0].tolist() == [5, 0, 0, 0, 0, 1, 0, 0, 0]
    assert trace.arrivals[:, 1].tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert trace.service_s[:, 0].tolist() == [0.5] * 5 + [1.5] * 4
    # before its first row a queue takes its first service time
    assert trace.service_s[:, 1].tolist() == [4.0] * 9
    assert trace.total_tasks() == {"a": 6, "b": 1}


def test_extra_queues_get_empty_columns_first() -> None:
    trace = bin_rows(parse_rows(rows("1,a,1,1")), queues=["z"])
    assert trace.queues == ("z", "a")
    assert trace.arrivals[:, 0].sum() == 0


def _run(
    model: DeterministicService | ExponentialService, arrivals: list[int], slots: int
) -> list[int]:
    model.set_service(np.array([0.5]))
    model.set_slots(np.array([slots]))
    completed_at = []
    published = 0
    for t, a in enumerate(arrivals):
        model.step(t, np.array([a]))
        published += a
        done = published - int(model.backlog[0]) - int(model.running[0])
        completed_at.append(done)
    return completed_at


def test_deterministic_service_drains_a_burst_at_full_capacity() -> None:
    # 300 tasks of 0.5 s on 10 slots: 20 tasks per step (two per slot), 15 steps.
    model = DeterministicService(1, 1.0, max_service_s=0.5)
    done = _run(model, [300] + [0] * 30, slots=10)
    assert done[14] == 280  # tasks started in step 14 complete at the start of step 15
    assert done[15] == 300
    assert int(model.backlog[0]) == 0


def test_deterministic_long_tasks_hold_their_slot_for_their_service_time() -> None:
    model = DeterministicService(1, 1.0, max_service_s=4.0)
    model.set_service(np.array([4.0]))
    model.set_slots(np.array([2]))
    starts = []
    for t in range(12):
        before = int(model.backlog[0]) + (5 if t == 0 else 0)
        model.step(t, np.array([5 if t == 0 else 0]))
        starts.append(before - int(model.backlog[0]))
    assert starts == [2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0]


@settings(max_examples=40, deadline=None)
@given(
    arrivals=st.lists(st.integers(0, 50), min_size=1, max_size=60),
    slots=st.lists(st.integers(0, 8), min_size=1, max_size=60),
    mean_s=st.sampled_from([0.2, 1.0, 3.0]),
    exponential=st.booleans(),
)
def test_no_task_is_lost_or_invented_whatever_the_slots_do(
    arrivals: list[int], slots: list[int], mean_s: float, exponential: bool
) -> None:
    if exponential:
        model: DeterministicService | ExponentialService = ExponentialService(1, 1.0, seed=3)
    else:
        model = DeterministicService(1, 1.0, max_service_s=mean_s)
    model.set_service(np.array([mean_s]))
    published = completed = 0
    for t, a in enumerate(arrivals):
        model.set_slots(np.array([slots[t % len(slots)]]))
        model.step(t, np.array([a]))
        published += a
        now_completed = published - int(model.backlog[0]) - int(model.running[0])
        assert model.backlog[0] >= 0 and model.running[0] >= 0
        assert now_completed >= completed  # completions never go back
        completed = now_completed
    # with no slots and nothing running nothing can complete: all work is still accounted for
    assert published == int(model.backlog[0]) + int(model.running[0]) + completed


def test_the_exponential_model_is_reproducible_from_its_seed() -> None:
    runs = [
        # 60 slots, 100 tasks of 0.5 s: 86.5 completions expected in the first step
        _run(ExponentialService(1, 1.0, seed=seed), [100] + [0] * 20, slots=60)
        for seed in (7, 7, 8)
    ]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert runs[0][-1] == 100


def test_scaled_in_replicas_finish_their_running_tasks() -> None:
    model = DeterministicService(1, 1.0, max_service_s=5.0)
    model.set_service(np.array([5.0]))
    model.set_slots(np.array([4]))
    model.step(0, np.array([6]))
    assert (int(model.running[0]), int(model.backlog[0])) == (4, 2)
    model.set_slots(np.array([1]))  # scale in from 4 slots to 1
    assert model.draining
    assert model.draining_slots().tolist() == [3]
    for t in range(1, 5):
        model.step(t, np.array([0]))
    assert int(model.running[0]) == 4  # nothing was stopped, nothing new started
    model.step(5, np.array([0]))
    assert (int(model.running[0]), int(model.backlog[0])) == (1, 1)
    assert not model.draining


def test_deterministic_fractional_service_times_keep_their_mean_throughput() -> None:
    # 1.5 s tasks on 2 slots: 4 tasks per 3 s, so 120 tasks take 90 s (not 60 s nor 120 s).
    model = DeterministicService(1, 1.0, max_service_s=1.5)
    model.set_service(np.array([1.5]))
    model.set_slots(np.array([2]))
    done_at = None
    for t in range(200):
        model.step(t, np.array([120 if t == 0 else 0]))
        if done_at is None and model.backlog[0] == 0 and model.running[0] == 0:
            done_at = t
    assert done_at is not None and 89 <= done_at <= 91
