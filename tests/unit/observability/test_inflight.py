"""In-flight bookkeeping without Redis: queue attribution, tallies, completion deltas."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.inflight import Accounting, completed_delta, count_by_queue, queue_of, write_tally

QUEUES = ("emails", "reports")


@dataclass(frozen=True)
class FakeRequest:
    routing_key: str | None
    delivery_info: dict[str, Any] = field(init=False, hash=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "delivery_info", {"routing_key": self.routing_key})


@pytest.mark.parametrize(
    ("routing_key", "queue"),
    [("emails", "emails"), ("reports", "reports"), ("other", "emails"), (None, "emails")],
)
def test_queue_of(routing_key: str | None, queue: str) -> None:
    assert queue_of(routing_key, QUEUES) == queue


def test_count_by_queue() -> None:
    reqs = [FakeRequest("emails"), FakeRequest("reports"), FakeRequest("emails"), object()]
    assert count_by_queue(reqs, QUEUES) == {"emails": 3, "reports": 1}


def test_tally_counts_held_and_completed() -> None:
    acc = Accounting(QUEUES)
    arrived = [FakeRequest("emails") for _ in range(5)] + [FakeRequest("reports")]
    for r in arrived:
        acc.on_received(r)
    running = arrived[:2]
    eta_scheduled = arrived[2:3]
    tally = acc.tally(running, running + eta_scheduled)
    assert tally.inflight == {"emails": 2, "reports": 0}
    assert tally.completed == {"emails": 2, "reports": 1}


def test_requests_given_back_unrun_are_not_completions() -> None:
    acc = Accounting(QUEUES)
    arrived = [FakeRequest("emails") for _ in range(4)]
    for r in arrived:
        acc.on_received(r)
    acc.on_given_back(arrived[1:3])  # connection lost: two reserved ones dropped
    tally = acc.tally(arrived[:1], arrived[:1])
    assert tally.completed == {"emails": 1, "reports": 0}


def test_completed_delta_only_sends_what_is_new() -> None:
    assert completed_delta({"a": 5, "b": 2, "c": 0}, {"a": 3, "b": 2}) == {"a": 2}


@given(st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=20))
def test_deltas_add_up_to_the_total(totals: list[int]) -> None:
    running = 0
    sent: dict[str, int] = {}
    for t in sorted(totals):
        delta = completed_delta({"q": t}, sent)
        sent["q"] = sent.get("q", 0) + delta.get("q", 0)
        running += delta.get("q", 0)
    assert running == max(totals)


class RecordingPipe:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def hset(self, key: str, field: str, value: str) -> None:
        self.calls.append(("hset", key, field, value))

    def hincrby(self, key: str, field: str, n: int) -> None:
        self.calls.append(("hincrby", key, field, str(n)))


def test_write_tally_uses_the_key_contract() -> None:
    pipe = RecordingPipe()
    write_tally(pipe, "pod-1", {"emails": 3}, {"emails": 7}, 1_000)
    assert pipe.calls == [
        ("hset", "shoal:inflight:emails", "pod-1", "3 1000"),
        ("hincrby", "shoal:stats:emails", "completed", "7"),
    ]
