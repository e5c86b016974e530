"""``shoal load`` plans: a rate spreads its tasks over ticks, a trace keeps its times and order."""

from __future__ import annotations

import random

import pytest

from scheduler.demo.load_cmd import Batch, LoadError, rate_batches, service_times, trace_batches


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


@pytest.mark.parametrize("line", ["1,q,-1,1", "1,q,1,0", "x,q,1,1", "1,,1,1", "1,q,1"])
def test_bad_trace_lines_are_named(line: str) -> None:
    with pytest.raises(LoadError, match=r"t\.csv: line 2"):
        trace_batches(["time_s,queue,tasks,mean_service_s", line], source="t.csv")


def test_exponential_service_times_are_seeded_and_keep_the_mean() -> None:
    draws = list(service_times(2.0, 4000, exponential=True, rng=random.Random(5)))
    again = list(service_times(2.0, 4000, exponential=True, rng=random.Random(5)))
    assert draws == again
    assert 1.9 < sum(draws) / len(draws) < 2.1
    assert list(service_times(2.0, 3, exponential=False, rng=random.Random(5))) == [2.0] * 3
