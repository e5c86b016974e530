"""Schedule kinds, the catch-up policy, and properties every schedule keeps."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.beat.cron import parse_cron
from scheduler.beat.schedules import (
    MAX_CATCH_UP_TICKS,
    At,
    CatchUp,
    Cron,
    Every,
    Schedule,
    Solar,
    When,
    Window,
    due_ticks,
    next_fire,
    ticks_between,
)
from scheduler.beat.solar import SolarEvent

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        (Every(30), s(0), s(30)),
        (Every(30), s(29.999), s(30)),
        (Every(30), s(30), s(60)),
        (Every(3600), s(1), s(3600)),  # aligned to the hour in UTC
        (Every(7, anchor=s(1)), s(0), s(1)),
        (Every(7, anchor=s(1)), s(1), s(8)),
        (When("m:f", 10), s(5), s(10)),
        (At(s(100)), s(0), s(100)),
        (At(s(100)), s(100), None),
        (Cron(parse_cron("0 15 * * *"), "Europe/Berlin"), T0, s(3600)),  # 15:00 CEST
        (Cron(parse_cron("0 15 * * *"), "America/New_York"), T0, s(7 * 3600)),
    ],
)
def test_next_fire_table(schedule: Schedule, after: datetime, expected: datetime | None) -> None:
    assert next_fire(schedule, after) == expected


@pytest.mark.parametrize(
    ("event", "expected_utc"),
    [
        (SolarEvent.SUNRISE, "02:43"),
        (SolarEvent.NOON, "11:07"),
        (SolarEvent.SUNSET, "19:32"),
        (SolarEvent.DAWN, "01:52"),
        (SolarEvent.DUSK, "20:23"),
        (SolarEvent.DAWN_NAUTICAL, "00:28"),
        (SolarEvent.DUSK_NAUTICAL, "21:47"),
    ],
)
def test_solar_events_in_berlin_at_midsummer(event: SolarEvent, expected_utc: str) -> None:
    tick = next_fire(Solar(event, 52.52, 13.40), datetime(2026, 6, 20, tzinfo=UTC))
    assert tick is not None
    assert (tick.date().isoformat(), tick.strftime("%H:%M")) == ("2026-06-20", expected_utc)


def test_astronomical_dawn_does_not_happen_in_berlin_at_midsummer() -> None:
    tick = next_fire(
        Solar(SolarEvent.DAWN_ASTRONOMICAL, 52.52, 13.40), datetime(2026, 6, 20, tzinfo=UTC)
    )
    assert tick is not None and tick.month == 7  # the sun stays above -18 degrees until late July


def test_polar_night_has_no_sunrise_until_it_ends() -> None:
    tick = next_fire(Solar(SolarEvent.SUNRISE, 78.2, 15.6), datetime(2026, 11, 20, tzinfo=UTC))
    assert tick is not None and (tick.year, tick.month) == (2027, 2)


def test_window_bounds_the_ticks() -> None:
    window = Window(start=s(95), end=s(200))
    assert next_fire(Every(30, anchor=s(95)), s(0), window) == s(95)
    assert next_fire(Every(30, anchor=s(95)), s(185), window) is None
    assert ticks_between(Every(30), s(0), s(300), Window(end=s(100))) == [s(30), s(60), s(90)]


# -- catch-up -----------------------------------------------------------------------------
EVERY_10 = Every(10)


@pytest.mark.parametrize(
    ("catch_up", "deadline", "now", "fired", "skipped"),
    [
        # on time: each policy fires the current tick
        (CatchUp.NONE, None, s(10.5), [s(10)], 0),
        (CatchUp.LATEST, None, s(10.5), [s(10)], 0),
        (CatchUp.ALL, None, s(10.5), [s(10)], 0),
        # five minutes down (30 ticks due, the newest 5 s late)
        (CatchUp.NONE, None, s(305), [], 30),
        (CatchUp.LATEST, None, s(305), [s(300)], 29),
        (CatchUp.ALL, None, s(305), [s(10 * i) for i in range(1, 31)], 0),
        # startingDeadlineSeconds: older ticks are past their deadline
        (CatchUp.ALL, 60, s(305), [s(250), s(260), s(270), s(280), s(290), s(300)], 24),
        (CatchUp.LATEST, 60, s(305), [s(300)], 29),
        (CatchUp.LATEST, 3, s(305), [], 30),
        # on time even under none, as long as within ON_TIME_S
        (CatchUp.NONE, None, s(301.5), [s(300)], 29),
    ],
)
def test_due_ticks_table(
    catch_up: CatchUp, deadline: float | None, now: datetime, fired: list[datetime], skipped: int
) -> None:
    due = due_ticks(EVERY_10, s(0), now, catch_up, deadline)
    assert (list(due.fire), due.skipped) == (fired, skipped)
    assert due.reason


def test_due_ticks_nothing_due() -> None:
    due = due_ticks(EVERY_10, s(10), s(19), CatchUp.ALL, None)
    assert (due.fire, due.skipped, due.reason) == ((), 0, "nothing due")


def test_catch_up_all_is_capped_after_a_very_long_outage() -> None:
    due = due_ticks(Every(1), s(0), s(86400), CatchUp.ALL, None)
    assert len(due.fire) == MAX_CATCH_UP_TICKS
    assert due.fire[-1] == s(86400)


def test_a_long_gap_before_an_intervals_anchor_counts_only_ticks_that_exist() -> None:
    # Ticks are anchor + k * interval for k >= 0: a last tick before the anchor (a database
    # row's start) must not count ticks before it among the dropped ones.
    anchor = datetime(2026, 6, 1, tzinfo=UTC)
    every = Every(1.0, anchor + timedelta(seconds=3))
    due = due_ticks(every, anchor, anchor + timedelta(seconds=1002), CatchUp.LATEST, None)
    assert (len(due.fire), due.skipped) == (1, 999)  # ticks at 3 s ... 1002 s: 1,000


def test_an_at_tick_fires_once_and_never_again() -> None:
    at = At(s(50))
    first = due_ticks(at, s(0), s(51), CatchUp.LATEST, None)
    assert first.fire == (s(50),)
    assert due_ticks(at, s(50), s(10_000), CatchUp.ALL, None).fire == ()


# -- properties ---------------------------------------------------------------------------
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
)
cron_texts = st.sampled_from(
    ["* * * * *", "*/7 * * * *", "30 2 * * *", "0 */3 * * 1-5", "15 1,2,3 * * *",
     "0 0 29 2 *", "45 23 31 * *", "0 12 13 * 5", "@daily", "*/20 1-3 * 3,10 0"]
)  # fmt: skip
zones = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney",
                         "Asia/Kolkata", "America/Santiago", "Pacific/Chatham"])  # fmt: skip
schedules = st.one_of(
    st.builds(Every, st.floats(min_value=0.5, max_value=86400 * 3)),
    st.builds(When, st.just("m:f"), st.floats(min_value=0.5, max_value=3600)),
    st.builds(lambda text, tz: Cron(parse_cron(text), tz), cron_texts, zones),
    st.builds(At, instants),
    st.builds(
        Solar,
        st.sampled_from(list(SolarEvent)),
        st.floats(min_value=-60, max_value=60),
        st.floats(min_value=-180, max_value=180),
    ),
)


@settings(max_examples=300, deadline=None)
@given(schedules, instants, st.floats(min_value=0, max_value=86400 * 40))
def test_next_fire_is_strictly_after_and_monotone(
    schedule: Schedule, after: datetime, step_s: float
) -> None:
    first = next_fire(schedule, after)
    if first is None:
        assert isinstance(schedule, At)
        return
    assert first > after
    later = next_fire(schedule, after + timedelta(seconds=step_s))
    if later is not None:
        assert later >= first
    following = next_fire(schedule, first)
    assert following is None or following > first


@settings(max_examples=150, deadline=None)
@given(
    st.builds(lambda text, tz: Cron(parse_cron(text), tz), cron_texts, zones),
    instants,
)
def test_no_cron_tick_is_skipped_between_consecutive_fires(schedule: Cron, after: datetime) -> None:
    """Asking from any instant between two fires gives the second: nothing hides in between."""
    first = next_fire(schedule, after)
    assert first is not None
    second = next_fire(schedule, first)
    assert second is not None
    middle = first + (second - first) / 2
    assert next_fire(schedule, middle) == second


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=1, max_value=600),
    st.floats(min_value=0, max_value=7200),
    st.sampled_from(list(CatchUp)),
    st.one_of(st.none(), st.floats(min_value=0, max_value=3600)),
)
def test_due_ticks_fire_only_due_ticks_in_order(
    interval: float, outage_s: float, catch_up: CatchUp, deadline: float | None
) -> None:
    now = s(outage_s)
    due = due_ticks(Every(interval), T0, now, catch_up, deadline)
    everything = ticks_between(Every(interval), T0, now)
    assert list(due.fire) == sorted(set(due.fire))
    assert all(T0 < t <= now for t in due.fire)
    assert set(due.fire) <= set(everything)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    exact = math.floor((now - epoch).total_seconds() / interval) - math.floor(
        (T0 - epoch).total_seconds() / interval
    )
    assert abs(len(due.fire) + due.skipped - exact) <= 1  # float rounding at a boundary
    if deadline is not None:
        assert all((now - t).total_seconds() <= deadline for t in due.fire)
    if catch_up is not CatchUp.ALL:
        assert len(due.fire) <= 1


def test_catch_up_after_a_long_outage_of_an_anchored_entry_keeps_the_anchor() -> None:
    anchored = Every(1, anchor=s(0.5))
    due = due_ticks(anchored, s(0.5), s(86400), CatchUp.ALL, None, Window(start=s(0.5)))
    assert len(due.fire) == MAX_CATCH_UP_TICKS
    assert due.fire[-1] == s(86399.5)
    assert due.skipped == 86399 - MAX_CATCH_UP_TICKS
