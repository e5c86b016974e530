"""Celery's schedule objects as shoal schedules: the same ticks on every replica.

``celery.schedules.crontab`` (and django-celery-beat's ``TzAwareCrontab``), ``schedule``
(a number of seconds or a ``timedelta``), ``solar`` and django-celery-beat's ``clocked``
become :class:`~scheduler.beat.schedules.Cron`, :class:`Every`, :class:`Solar` and :class:`At`.

The meaning kept: a crontab's fields are the sets Celery itself parsed, read in the app's time
zone (or the crontab's own zone), with Celery's day rule (day of month AND day of week). What
changes, and is documented in docs/beat.md: intervals tick on multiples of the interval since
the Unix epoch (Celery counts from the beat's start), and daylight-saving nights follow
:mod:`scheduler.beat.cron`'s rules. Any other schedule class cannot be computed identically by
every replica and is refused with :class:`ScheduleError`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scheduler.beat.cron import CronError, cron_from_sets, zone
from scheduler.beat.schedules import At, Cron, Every, Schedule, Solar
from scheduler.beat.solar import SolarEvent

SOLAR_EVENTS = {
    "dawn_astronomical": SolarEvent.DAWN_ASTRONOMICAL,
    "dawn_nautical": SolarEvent.DAWN_NAUTICAL,
    "dawn_civil": SolarEvent.DAWN,
    "sunrise": SolarEvent.SUNRISE,
    "solar_noon": SolarEvent.NOON,
    "sunset": SolarEvent.SUNSET,
    "dusk_civil": SolarEvent.DUSK,
    "dusk_nautical": SolarEvent.DUSK_NAUTICAL,
    "dusk_astronomical": SolarEvent.DUSK_ASTRONOMICAL,
}
"""Celery's and django-celery-beat's solar event names."""
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
"""Celery's crontab fields in cron order (django-celery-beat's column names)."""


class ScheduleError(ValueError):
    """A schedule shoal cannot compute; ``field`` names the part (``schedule``,
    ``crontab.hour``, ``timezone`` ...)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def app_zone_name(timezone: str | None, enable_utc: bool) -> str:
    """The zone Celery reads an app's crontabs in: ``timezone``, else UTC when ``enable_utc``
    (the default), else the machine's local zone (``TZ``, then ``/etc/localtime``)."""
    if timezone:
        zone(str(timezone))  # CronError for an unknown one
        return str(timezone)
    if enable_utc:
        return "UTC"
    local = os.environ.get("TZ", "").lstrip(":")
    if not local:
        try:
            target = Path("/etc/localtime").resolve()
        except OSError:
            target = Path("UTC")
        parts = target.parts
        local = "/".join(parts[parts.index("zoneinfo") + 1 :]) if "zoneinfo" in parts else "UTC"
    zone(local)
    return local


def _field_text(value: object) -> str:
    if isinstance(value, str):
        return value.replace(" ", "") or "*"
    if isinstance(value, int):
        return str(value)
    try:
        return ",".join(str(v) for v in sorted(value))  # type: ignore[call-overload]
    except TypeError:
        return str(value)


def cron_text(fields: dict[str, object]) -> str:
    """``minute hour day-of-month month day-of-week`` as the user wrote each field."""
    return " ".join(_field_text(fields[name]) for name in CRON_FIELDS)


def from_crontab(crontab: Any, zone_name: str) -> Cron:
    """A Celery crontab (its parsed sets) in ``zone_name`` (a ``TzAwareCrontab`` has its own)."""
    own_tz = vars(crontab).get("tz")
    if own_tz is not None:
        zone_name = str(getattr(own_tz, "key", own_tz))
        try:
            zone(zone_name)
        except CronError as exc:
            raise ScheduleError("timezone", str(exc)) from None
    text = cron_text({name: getattr(crontab, f"_orig_{name}") for name in CRON_FIELDS})
    try:
        expr = cron_from_sets(
            minutes=frozenset(crontab.minute),
            hours=frozenset(crontab.hour),
            days=frozenset(crontab.day_of_month),
            months=frozenset(crontab.month_of_year),
            weekdays=frozenset(crontab.day_of_week),
            text=text,
        )
    except CronError as exc:
        raise ScheduleError("schedule", str(exc)) from None
    return Cron(expr, zone_name)


def from_seconds(seconds: float, anchor: datetime | None = None) -> Every:
    if seconds <= 0:
        raise ScheduleError("schedule", f"an interval of {seconds:g} s never fires")
    return Every(seconds, anchor) if anchor is not None else Every(seconds)


def to_schedule(value: Any, zone_name: str) -> Schedule:
    """Any schedule a beat_schedule entry may hold; :class:`ScheduleError` for the others."""
    from celery import schedules

    if isinstance(value, bool):
        raise ScheduleError("schedule", f"{value!r} is not a schedule")
    if isinstance(value, int | float):
        return from_seconds(float(value))
    if isinstance(value, timedelta):
        return from_seconds(value.total_seconds())
    kind = type(value)
    if isinstance(value, schedules.crontab) and not _overrides(kind, schedules.crontab):
        return from_crontab(value, zone_name)
    if kind is schedules.schedule:
        return from_seconds(value.run_every.total_seconds())
    if kind is schedules.solar:
        return Solar(SOLAR_EVENTS[value.event], float(value.lat), float(value.lon))
    clocked_time = getattr(value, "clocked_time", None)
    if kind.__name__ == "clocked" and isinstance(clocked_time, datetime):
        at = clocked_time if clocked_time.tzinfo else clocked_time.replace(tzinfo=UTC)
        return At(at.astimezone(UTC))
    raise ScheduleError(
        "schedule",
        f"{kind.__module__}.{kind.__qualname__} is not a schedule shoal beat can compute "
        "(crontab, solar, a number of seconds, timedelta or schedule); write it as one of those",
    )


def _overrides(kind: type, base: type) -> bool:
    """Whether a crontab subclass changes when it is due (then its ticks are its own)."""
    own = ("is_due", "remaining_estimate", "remaining_delta")
    return any(
        getattr(kind, name) is not getattr(base, name)
        for name in own
        if kind.__name__ != "TzAwareCrontab"
    )
