"""Celery's schedule objects keep their meaning as shoal schedules.

The property: for random crontabs, the next fire time shoal computes is the one Celery's own
``crontab.remaining_delta`` computes (in UTC, and in Europe/Berlin away from daylight-saving
nights, where shoal follows its documented rules instead of Celery's).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery import Celery
from celery.schedules import crontab, schedule
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scheduler.beat.schedules import Cron, Every, next_fire
from scheduler.beat.sources.celery_schedules import ScheduleError, app_zone_name, to_schedule

MINUTES = st.sampled_from(["*", "0", "*/15", "5,35", "0-10/5", "59"])
HOURS = st.sampled_from(["*", "0", "9-17", "*/6", "15", "23"])
DOW = st.sampled_from(["*", "mon-fri", "0", "sat,sun", "2"])
DOM = st.sampled_from(["*", "1", "15", "1-7", "31"])
MONTHS = st.sampled_from(["*", "1", "*/3", "2", "12"])
BERLIN_SUMMER = st.datetimes(datetime(2026, 4, 2), datetime(2026, 10, 20))


def celery_next(app: Celery, cron: crontab, after: datetime) -> datetime:
    cron.app = app
    tz = app.timezone
    start, ends_in, _ = cron.remaining_delta(after.astimezone(tz), tz=tz)
    return (start + ends_in).astimezone(UTC)  # type: ignore[no-any-return]


@settings(max_examples=300, deadline=None)
@given(MINUTES, HOURS, DOW, DOM, MONTHS, BERLIN_SUMMER, st.sampled_from(["UTC", "Europe/Berlin"]))
def test_next_fire_is_celerys(
    minute: str, hour: str, dow: str, dom: str, month: str, naive: datetime, zone_name: str
) -> None:
    app = Celery("t", set_as_current=False)
    app.conf.timezone = zone_name
    try:
        cron = crontab(minute=minute, hour=hour, day_of_week=dow, day_of_month=dom,
                       month_of_year=month)  # fmt: skip
    except ValueError:
        assume(False)  # Celery refuses it (31 February) before shoal sees it
    after = naive.replace(second=30, microsecond=0, tzinfo=ZoneInfo(zone_name)).astimezone(UTC)
    ours = to_schedule(cron, zone_name)
    assert isinstance(ours, Cron) and ours.timezone == zone_name
    found = next_fire(ours, after)
    assert found is not None
    expected = celery_next(app, cron, after)
    if found.year > after.year + 1 or expected.year > after.year + 1:
        return  # Celery gives up searching years ahead (31 February-like combinations)
    assert found == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (30, Every(30.0)),
        (2.5, Every(2.5)),
        (timedelta(minutes=5), Every(300.0)),
        (schedule(timedelta(hours=1)), Every(3600.0)),
    ],
)
def test_numbers_timedelta_and_schedule_are_intervals(value: object, expected: Every) -> None:
    assert to_schedule(value, "UTC") == expected


class EveryOtherRun(schedule):  # type: ignore[misc]
    """A schedule with its own idea of when it is due: no replica could agree on its ticks."""

    def is_due(self, last_run_at: datetime) -> tuple[bool, float]:
        return (False, 5.0)


@pytest.mark.parametrize("value", [EveryOtherRun(10), object(), True, 0, timedelta(0)])
def test_what_shoal_cannot_compute_is_refused_by_name(value: object) -> None:
    with pytest.raises(ScheduleError) as caught:
        to_schedule(value, "UTC")
    assert caught.value.field == "schedule"


def test_the_apps_zone_follows_timezone_then_enable_utc() -> None:
    assert app_zone_name("Europe/Berlin", True) == "Europe/Berlin"
    assert app_zone_name(None, True) == "UTC"
    assert app_zone_name("", True) == "UTC"
