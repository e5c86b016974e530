"""Rates, age estimates and the parsing of what Redis returns: pure, no Redis."""

from __future__ import annotations

import pytest

from scheduler.autoscaler.rates import RateState, estimate_oldest_age_s, ewma, update_rates
from scheduler.autoscaler.redis_source import header_of, in_flight_sum, parse_published_at


def test_first_sample_gives_no_rate_then_rates_follow_the_counters() -> None:
    state = update_rates(RateState(), at=0.0, backlog=10, in_flight=0, completed=0, half_life_s=0)
    assert (state.arrival_per_s, state.completion_per_s) == (0.0, 0.0)
    state = update_rates(state, at=2.0, backlog=14, in_flight=4, completed=6, half_life_s=0)
    assert state.arrival_per_s == pytest.approx((24 - 10) / 2)
    assert state.completion_per_s == pytest.approx(3.0)


def test_a_counter_reset_gives_no_negative_rate() -> None:
    state = RateState(at=0.0, total=100, completed=90, arrival_per_s=5.0, completion_per_s=4.0)
    after = update_rates(state, at=2.0, backlog=0, in_flight=0, completed=0)
    assert (after.arrival_per_s, after.completion_per_s) == (5.0, 4.0)
    assert after.completed == 0


def test_ewma_weighs_by_time() -> None:
    assert ewma(0.0, 10.0, dt_s=10.0, half_life_s=10.0) == pytest.approx(5.0)
    assert ewma(0.0, 10.0, dt_s=20.0, half_life_s=10.0) == pytest.approx(7.5)
    assert ewma(3.0, 10.0, dt_s=1.0, half_life_s=0.0) == 10.0


def test_backlog_since_is_kept_while_non_empty_and_cleared_when_empty() -> None:
    state = update_rates(RateState(), at=5.0, backlog=3, in_flight=0, completed=0)
    state = update_rates(state, at=7.0, backlog=8, in_flight=0, completed=0)
    assert state.backlog_since == 5.0
    assert update_rates(state, at=9.0, backlog=0, in_flight=0, completed=8).backlog_since is None


@pytest.mark.parametrize(
    ("backlog", "since", "arrival", "now", "age"),
    [
        (0, 1.0, 1.0, 10.0, None),
        (5, None, 1.0, 10.0, None),
        (5, 0.0, 0.0, 10.0, 10.0),  # no arrivals seen: time since the backlog appeared
        (5, 0.0, 1.0, 10.0, 5.0),  # Little's law: 5 tasks at 1/s took 5 s to build up
        (50, 0.0, 1.0, 10.0, 10.0),  # never more than the time the backlog has existed
    ],
)
def test_oldest_age_estimate(
    backlog: int, since: float | None, arrival: float, now: float, age: float | None
) -> None:
    assert (
        estimate_oldest_age_s(backlog=backlog, backlog_since=since, arrival_per_s=arrival, now=now)
        == age
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        (True, None),
        (1700000000.5, 1700000000.5),
        (b"1700000000.25", 1700000000.25),
        ("1700000000", 1700000000.0),
        ("2023-11-14T22:13:20+00:00", 1700000000.0),
        ("2023-11-14T22:13:20Z", 1700000000.0),
        ("2023-11-14T22:13:20", None),  # no zone: ambiguous, not trusted
        ("soon", None),
        ("", None),
    ],
)
def test_published_at_values(raw: object, expected: float | None) -> None:
    assert parse_published_at(raw) == expected


def test_header_of_a_kombu_envelope() -> None:
    envelope = b'{"body": "e30=", "headers": {"task": "x", "published_at": 1700000000.5}}'
    assert header_of(envelope) == 1700000000.5
    assert header_of(b'{"body": "e30=", "headers": {}}') is None
    assert header_of(b"not json") is None
    assert header_of(None) is None


def test_in_flight_sum_reads_dicts_and_flat_replies() -> None:
    assert in_flight_sum({b"w1": b"3 2000", b"w2": b"4 500"}, now_ms=1000) == 3
    assert in_flight_sum([b"w1", b"3 2000", b"w2", b"5 3000"], now_ms=1000) == 8
    assert in_flight_sum(None, now_ms=0) == 0
