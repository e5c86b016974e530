"""``shoal load`` plans: a rate spreads its tasks over ticks, a trace keeps its times and order."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from scheduler.demo.load_cmd import (
    Batch,
    LoadError,
    main,
    rate_batches,
    service_times,
    trace_batches,
)
from scheduler.simulate.trace import TraceError, parse_rows


def test_a_rate_publishes_the_right_count_spread_over_the_duration() -> None:
    batches = rate_batches("q", rate_per_s=7.5, duration_s=4.0, service_s=0.2)
    assert sum(b.count for b in batches) == 30
    assert batches[0].at_s < 0.2
    assert max(b.at_s for b in batches) < 4.0
    per_second = [sum(b.count for b in batches if s <= b.at_s < s + 1) for s in range(4)]
    assert all(7 <= n <= 8 for n in per_second)


def test_a_trace_is_sorted_and_sped_up() -> None:
    lines = ["time_s,queue,tasks,mean_service_s", "10,b,2,1.5", "4,a,3,0.2", "", "6,a,1,0.2"]
    assert trace_batches(lines, speed=2.0) == [
        Batch(2.0, "a", 3, 0.2),
        Batch(3.0, "a", 1, 0.2),
        Batch(5.0, "b", 2, 1.5),
    ]


def test_a_traces_delays_become_countdowns_sped_up_like_the_times() -> None:
    lines = ["time_s,queue,tasks,mean_service_s,delay_s", "4,a,3,0.2,90", "6,a,1,0.2,0"]
    assert trace_batches(lines, speed=2.0) == [
        Batch(2.0, "a", 3, 0.2, 45.0),
        Batch(3.0, "a", 1, 0.2, 0.0),
    ]


BAD_LINES = [
    "1,q,-1,1",
    "1,q,1,0",
    "x,q,1,1",
    "1,,1,1",
    "1,q,1",
    "nan,q,1,1",
    "inf,q,1,1",
    "1,q,1,nan",
    "1,q,1,inf",
    "1,q,nan,1",
    "1,q:x,1,1",
]


@pytest.mark.parametrize("line", BAD_LINES)
def test_a_bad_trace_line_is_refused_as_the_simulator_refuses_it(line: str) -> None:
    lines = ["time_s,queue,tasks,mean_service_s", "0,q,1,1", line]
    with pytest.raises(TraceError) as simulate:
        parse_rows(lines, source="t.csv")
    with pytest.raises(LoadError) as load:
        trace_batches(lines, source="t.csv")
    assert str(load.value) == str(simulate.value)
    assert str(load.value).startswith("t.csv: line 3: ")


def test_shoal_load_stops_on_a_bad_trace_with_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("time_s,queue,tasks,mean_service_s\n0,q,5,0.2\nnan,q,5,0.2\n")
    assert main(["--trace", str(trace), "--redis-url", "redis://127.0.0.1:1/0"]) == 2
    err = capsys.readouterr().err
    assert err == f"shoal load: {trace}: line 3: time_s: expected seconds >= 0, got 'nan'\n"


def test_exponential_service_times_are_seeded_and_keep_the_mean() -> None:
    draws = list(service_times(2.0, 4000, exponential=True, rng=random.Random(5)))
    again = list(service_times(2.0, 4000, exponential=True, rng=random.Random(5)))
    assert draws == again
    assert 1.9 < sum(draws) / len(draws) < 2.1
    assert list(service_times(2.0, 3, exponential=False, rng=random.Random(5))) == [2.0] * 3
