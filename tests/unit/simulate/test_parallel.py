"""Groups of queues simulated apart (in-process or in forked processes) give the one-run result."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.autoscaler.config import queue_policies_from_values
from scheduler.simulate.binned import Trace, bin_rows
from scheduler.simulate.cli import main
from scheduler.simulate.controllers import Controller, QueueSpec, StaticController
from scheduler.simulate.engine import RunResult, SimSettings, simulate
from scheduler.simulate.keda import KedaController
from scheduler.simulate.parallel import columns_of, simulate_groups, simulate_parallel, split
from scheduler.simulate.report import build_report
from scheduler.simulate.shoal_controller import ShoalController
from scheduler.simulate.trace import parse_rows
from tests.support.tools import ROOT

EXAMPLE_VALUES = ROOT / "scheduler" / "simulate" / "examples" / "values.yaml"
SETTINGS = SimSettings(start_delay_s=5, tail_s=300)
QUEUES = ["io-a", "cpu-b", "burst-c", "idle-d", "io-e"]


def fleet() -> Trace:
    """Five queues, 10 minutes: steady I/O, CPU spikes, one burst, one idle, a late start;
    some countdown tasks on two of them (their delayed sets split with their columns)."""
    lines = ["time_s,queue,tasks,mean_service_s,delay_s"]
    rng = np.random.default_rng(5)
    for t in range(600):
        lines.append(f"{t},io-a,{rng.poisson(6)},0.4,0")
        if t % 120 < 20:
            lines.append(f"{t},cpu-b,{rng.poisson(3)},3.0,0")
        if t >= 300:
            lines.append(f"{t},io-e,{rng.poisson(2)},0.8,0")
    lines.append("40,burst-c,900,0.5,0")
    lines += ["10,cpu-b,4,3.0,200", "100,cpu-b,2,3.0,150", "120,io-e,1,0.8,700"]
    return bin_rows(parse_rows(lines), tail_s=SETTINGS.tail_s, queues=QUEUES)


def specs() -> list[QueueSpec]:
    return [
        QueueSpec(name, "prefork", 2 if name.startswith("cpu") else 8, 0, 20, 30.0, 0)
        for name in QUEUES
    ]


def shoal_factory(queues: list[QueueSpec]) -> Controller:
    block = {"minReplicas": 0, "maxReplicas": 20, "targetBacklogPerReplica": 10}
    values = {
        "queues": [
            {"name": q.name, "pool": "prefork", "concurrency": q.concurrency, "autoscaling": block}
            for q in queues
        ]
    }
    return ShoalController(list(queue_policies_from_values(values)), poll_interval_s=2.0)


FACTORIES: dict[str, Callable[[list[QueueSpec]], Controller]] = {
    "keda": KedaController,
    "static:2": lambda queues: StaticController(queues, 2),
    "shoal": shoal_factory,
}


def assert_same_run(a: RunResult, b: RunResult) -> None:
    for name in ("waiting", "running", "replicas", "billed", "started", "completed"):
        assert np.array_equal(getattr(a.history, name), getattr(b.history, name)), name
    assert np.array_equal(a.published, b.published)
    assert a.scale_events.tolist() == b.scale_events.tolist()
    assert a.reasons == b.reasons
    assert a.policy == b.policy
    assert build_report(a).to_json() == build_report(b).to_json()


@pytest.fixture(scope="module")
def trace() -> Trace:
    return fleet()


@pytest.fixture(scope="module")
def single(trace: Trace) -> dict[str, RunResult]:
    return {name: simulate(trace, specs(), f(specs()), SETTINGS) for name, f in FACTORIES.items()}


@pytest.mark.parametrize("policy", list(FACTORIES))
@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_any_number_of_processes_gives_the_single_run(
    trace: Trace, single: dict[str, RunResult], policy: str, jobs: int
) -> None:
    result = simulate_parallel(trace, specs(), FACTORIES[policy], SETTINGS, jobs)
    assert_same_run(result, single[policy])


def test_the_runs_are_not_trivial(single: dict[str, RunResult]) -> None:
    # the comparisons above are worth something only if queues scale and work differs
    shoal = single["shoal"]
    assert shoal.scale_events.tolist()[3] == 0  # idle-d
    assert min(shoal.scale_events.tolist()[i] for i in (0, 1, 2, 4)) >= 2
    assert single["keda"].reasons[2]["keda-activation"] >= 1
    assert shoal.published[-1].tolist() == shoal.history.completed[-1].tolist()
    assert shoal.published[-1, 2] == 900
    assert shoal.published[-1, 3] == 0


def test_forked_groups_in_any_order_give_the_single_run(
    trace: Trace, single: dict[str, RunResult]
) -> None:
    result = simulate_groups(trace, specs(), shoal_factory, SETTINGS, [[4, 0], [2], [3, 1]])
    assert_same_run(result, single["shoal"])


@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_any_partition_of_the_queues_gives_the_single_run(
    trace: Trace, single: dict[str, RunResult], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(QUEUES))))
    cuts = data.draw(st.sets(st.integers(1, len(QUEUES) - 1)))
    bounds = [0, *sorted(cuts), len(QUEUES)]
    groups = [list(order[a:b]) for a, b in itertools.pairwise(bounds)]
    policy = data.draw(st.sampled_from(sorted(FACTORIES)))
    result = simulate_groups(trace, specs(), FACTORIES[policy], SETTINGS, groups, fork=False)
    assert_same_run(result, single[policy])


def test_a_queues_results_do_not_change_when_queues_are_added(trace: Trace) -> None:
    # the exponential model draws per queue: io-a alone, or among others in any position
    alone = simulate(
        columns_of(trace, [0]), specs()[:1], StaticController(specs()[:1], 1), SETTINGS
    )
    for columns in ([0, 1, 2], [3, 4, 0]):
        queues = [specs()[i] for i in columns]
        result = simulate(columns_of(trace, columns), queues, StaticController(queues, 1), SETTINGS)
        at = columns.index(0)
        assert np.array_equal(result.history.running[:, at], alone.history.running[:, 0])
        assert np.array_equal(result.history.waiting[:, at], alone.history.waiting[:, 0])
    other_seed = SimSettings(start_delay_s=5, tail_s=300, seed=1)
    reseeded = simulate(
        columns_of(trace, [0]), specs()[:1], StaticController(specs()[:1], 1), other_seed
    )
    assert not np.array_equal(reseeded.history.running[:, 0], alone.history.running[:, 0])


def test_groups_must_partition_the_queues(trace: Trace) -> None:
    for groups in ([[0, 1], [2, 3]], [[0, 1, 2], [2, 3, 4]], [[0, 1, 2, 3, 4], []]):
        with pytest.raises(ValueError, match="do not partition the 5 queues"):
            simulate_groups(trace, specs(), KedaController, SETTINGS, groups)


def test_a_failing_group_stops_the_run_with_its_traceback(trace: Trace) -> None:
    def refuses_cpu(queues: list[QueueSpec]) -> Controller:
        if any(q.name == "cpu-b" for q in queues):
            raise LookupError("no policy for cpu-b")
        return KedaController(queues)

    with pytest.raises(RuntimeError, match=r"(?s)failed:.*LookupError: no policy for cpu-b"):
        simulate_groups(trace, specs(), refuses_cpu, SETTINGS, [[0], [1, 2], [3, 4]])


def test_split_gives_contiguous_near_equal_groups() -> None:
    assert split(5, 2) == [[0, 1, 2], [3, 4]]
    assert split(2, 8) == [[0], [1]]
    assert split(4, 1) == [[0, 1, 2, 3]]
    assert split(0, 3) == []


def test_the_cli_prints_the_same_json_for_any_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "trace.csv"
    rows = ["time_s,queue,tasks,mean_service_s", "5,thumbnails,600,0.5", "200,reports,30,3.0"]
    rows += [f"{t},emails,{t % 7},0.3" for t in range(0, 400, 3)]
    trace.write_text("\n".join(rows) + "\n")
    argv = ["--values", str(EXAMPLE_VALUES), "--trace", str(trace), "--json"]
    argv += ["--policy", "shoal", "--policy", "keda", "--policy", "static:1"]
    outputs = []
    for jobs in ("1", "2", "3"):
        assert main([*argv, "--jobs", jobs]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0] == outputs[1] == outputs[2]
    runs = outputs[0]["runs"]
    assert [r["total"]["tasks"] for r in runs] == [630 + sum(t % 7 for t in range(0, 400, 3))] * 3
    assert "jobs" not in outputs[0]["settings"]
