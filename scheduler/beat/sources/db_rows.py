"""django-celery-beat's rows as entries, with their meaning kept; a bad row names its field.

The meaning of each column, as django-celery-beat 2.x gives it (``models.py``, ``ModelEntry``):

* exactly one of ``interval``, ``crontab`` (read in its own ``timezone``, Celery's crontab
  syntax), ``solar``, ``clocked``;
* ``start_time``: no tick before it (an interval counts from it); ``expires``: no tick after it,
  and the messages expire then; ``expire_seconds``: the messages expire that long after
  publishing;
* ``one_off``: one run, then the row is disabled; a ``clocked`` row is always one run, at its
  time (or, saved after that time, when it was saved, as django-celery-beat runs it at once);
* ``args``/``kwargs``/``headers``: JSON; ``queue``, ``exchange``, ``routing_key``, ``priority``
  and the app's routes, as Celery publishes them (:mod:`.options`); the headers get
  ``periodic_task_name`` and ``celery_beat_task``;
* catch-up: the newest missed tick fires once (django-celery-beat's way); without state in
  Redis a row starts from its ``last_run_at``, else from when it was saved (from long ago when
  it has a ``start_time``); a row enabled again (``last_run_at`` cleared by its save) does not
  catch up what passed while it was disabled.

An interval row ticks on multiples of its interval from ``start_time``, else from the row's
``date_changed`` (django-celery-beat counts from the last run), so every replica computes the
same ticks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from scheduler.beat.cron import CronError, cron_from_sets, zone
from scheduler.beat.schedules import EPOCH, At, Cron, Every, Schedule, Solar, Window, next_fire
from scheduler.beat.sources.celery_schedules import SOLAR_EVENTS, cron_text
from scheduler.beat.sources.options import OptionError, resolve
from scheduler.beat.spec import Entry

MIN_INTERVAL_S = 1.0
PERIOD_S = {"days": 86400.0, "hours": 3600.0, "minutes": 60.0, "seconds": 1.0,
            "microseconds": 1e-6}  # fmt: skip
KINDS = ("interval", "crontab", "solar", "clocked")
CRON_RANGES = {  # column: (Celery's max_, min_) for crontab._expand_cronspec
    "minute": (60, 0), "hour": (24, 0), "day_of_week": (7, 0), "day_of_month": (31, 1),
    "month_of_year": (12, 1),
}  # fmt: skip
LONG_AGO = timedelta(days=365 * 30)
"""django-celery-beat's start for a row with a ``start_time`` and no ``last_run_at``."""


class TaskRow(NamedTuple):
    """One ``PeriodicTask`` row, raw (datetimes aware, in UTC)."""

    id: int
    name: str
    task: str
    interval_id: int | None
    crontab_id: int | None
    solar_id: int | None
    clocked_id: int | None
    args: str | None
    kwargs: str | None
    queue: str | None
    exchange: str | None
    routing_key: str | None
    headers: str | None
    priority: int | None
    expires: datetime | None
    expire_seconds: int | None
    one_off: bool
    start_time: datetime | None
    enabled: bool
    last_run_at: datetime | None
    total_run_count: int
    date_changed: datetime | None

    def definition(self) -> tuple[Any, ...]:
        """Everything but the run state (``last_run_at``, ``total_run_count``)."""
        return self[:19] + self[21:]


class BadRow(ValueError):
    """A row that cannot be scheduled; the message names the row and the field."""

    def __init__(self, row: TaskRow, field: str, message: str) -> None:
        self.row_id, self.name, self.field = row.id, row.name, field
        super().__init__(f"database row {row.id} {row.name!r}.{field}: {message}")


@dataclass(frozen=True)
class ScheduleRows:
    """The schedule tables, raw: table -> id -> the row's values after its id."""

    interval: Mapping[int, tuple[Any, ...]]
    crontab: Mapping[int, tuple[Any, ...]]
    solar: Mapping[int, tuple[Any, ...]]
    clocked: Mapping[int, tuple[Any, ...]]

    def get(self, kind: str, row_id: int) -> tuple[Any, ...] | None:
        table: Mapping[int, tuple[Any, ...]] = getattr(self, kind)
        return table.get(row_id)


def _crontab(values: tuple[Any, ...]) -> Cron:
    """``(minute, hour, day_of_week, day_of_month, month_of_year, timezone)`` by Celery's own
    crontab parser; ``ScheduleProblem`` names the column."""
    from celery.schedules import crontab

    fields = dict(zip(("minute", "hour", "day_of_week", "day_of_month", "month_of_year"),
                      values[:5], strict=True))  # fmt: skip
    sets: dict[str, frozenset[int]] = {}
    for column, raw in fields.items():
        max_, min_ = CRON_RANGES[column]
        try:
            sets[column] = frozenset(crontab._expand_cronspec(str(raw or "*"), max_, min_))
        except Exception as exc:  # Celery raises ValueError or its ParseException
            raise ScheduleProblem(f"crontab.{column}", f"{raw!r}: {exc}") from None
    tz_name = str(values[5] or "UTC")
    try:
        zone(tz_name)
        expr = cron_from_sets(
            minutes=sets["minute"], hours=sets["hour"], days=sets["day_of_month"],
            months=sets["month_of_year"], weekdays=sets["day_of_week"],
            text=cron_text(dict(fields)),
        )  # fmt: skip
    except CronError as exc:
        field = "crontab.timezone" if "time zone" in str(exc) else "crontab"
        raise ScheduleProblem(field, str(exc)) from None
    return Cron(expr, tz_name)


class ScheduleProblem(ValueError):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def _interval(values: tuple[Any, ...], anchor: datetime) -> Every:
    every, period = values
    if period not in PERIOD_S:
        raise ScheduleProblem("interval.period", f"{period!r} is not one of {', '.join(PERIOD_S)}")
    seconds = float(every or 0) * PERIOD_S[period]
    if seconds < MIN_INTERVAL_S:
        raise ScheduleProblem("interval.every", f"{every} {period} is below {MIN_INTERVAL_S:g} s")
    return Every(seconds, anchor)


def _solar(values: tuple[Any, ...]) -> Solar:
    event, lat, lon = values
    if event not in SOLAR_EVENTS:
        raise ScheduleProblem("solar.event", f"{event!r} is not one of {', '.join(SOLAR_EVENTS)}")
    latitude, longitude = float(Decimal(str(lat))), float(Decimal(str(lon)))
    if not -90 <= latitude <= 90 or not -180 <= longitude <= 180:
        raise ScheduleProblem("solar", f"({latitude}, {longitude}) is not a place on Earth")
    return Solar(SOLAR_EVENTS[event], latitude, longitude)


def parse_schedule(kind: str, values: tuple[Any, ...], *, anchor: datetime) -> Schedule:
    """One schedule row as a shoal schedule (the clocked time as its one tick)."""
    if kind == "interval":
        return _interval(values, anchor)
    if kind == "crontab":
        return _crontab(values)
    if kind == "solar":
        return _solar(values)
    (clocked_time,) = values
    if not isinstance(clocked_time, datetime):
        raise ScheduleProblem("clocked.clocked_time", f"{clocked_time!r} is not a date-time")
    return At(clocked_time)


def _json(row: TaskRow, column: str, default: str, kind: type) -> Any:
    raw = getattr(row, column)
    try:
        value = json.loads(raw or default)
    except ValueError as exc:
        raise BadRow(row, column, f"{raw!r} is not JSON ({exc})") from None
    if not isinstance(value, kind):
        raise BadRow(row, column, f"{raw!r} is not a JSON {'list' if kind is list else 'object'}")
    return value


def _kind(row: TaskRow) -> str:
    given = [k for k in KINDS if getattr(row, f"{k}_id") is not None]
    if len(given) != 1:
        raise BadRow(row, "schedule", "needs exactly one of interval, crontab, solar, clocked"
                     + (f" (found {' and '.join(given)})" if given else ""))  # fmt: skip
    return given[0]


def _options(row: TaskRow, headers: dict[str, Any]) -> dict[str, Any]:
    """The options ``ModelEntry`` passes to ``apply_async``."""
    options: dict[str, Any] = {
        k: getattr(row, k)
        for k in ("queue", "exchange", "routing_key", "priority")
        if getattr(row, k) is not None
    }
    expires = row.expires or row.expire_seconds
    if expires:
        options["expires"] = expires
    options["headers"] = {**headers, "periodic_task_name": row.name, "celery_beat_task": True}
    return options


def _one_tick(schedule: Schedule, row: TaskRow, window: Window, baseline: datetime) -> At:
    """A one-off row's single tick."""
    if isinstance(schedule, At):
        saved = row.date_changed
        return At(max(schedule.instant, saved) if saved else schedule.instant)
    tick = next_fire(schedule, baseline, window)
    return At(tick if tick is not None else EPOCH)  # EPOCH: no tick left


def parse_row(
    row: TaskRow,
    schedules: ScheduleRows,
    *,
    app: Any,
    app_zone: str,
    schedule_of: Callable[[str, int, tuple[Any, ...], datetime], Schedule] | None = None,
) -> Entry:
    """The entry for an enabled row; :class:`BadRow` names the field that stops it."""
    if not row.name:
        raise BadRow(row, "name", "is empty")
    kind = _kind(row)
    schedule_id: int = getattr(row, f"{kind}_id")
    values = schedules.get(kind, schedule_id)
    if values is None:
        raise BadRow(row, kind, f"row {schedule_id} of the {kind} table does not exist")
    saved = row.date_changed or datetime.now(UTC)
    anchor = row.start_time or saved
    try:
        build = schedule_of or (lambda k, _i, v, a: parse_schedule(k, v, anchor=a))
        schedule = build(kind, schedule_id, values, anchor)
    except ScheduleProblem as exc:
        raise BadRow(row, exc.field, str(exc)) from None
    window = Window(row.start_time, row.expires)
    if row.last_run_at is not None:
        baseline = row.last_run_at
    else:
        baseline = row.start_time - LONG_AGO if row.start_time else saved
    one_off = row.one_off or kind == "clocked"
    if one_off:
        schedule = _one_tick(schedule, row, window, baseline)
    args = _json(row, "args", "[]", list)
    kwargs = _json(row, "kwargs", "{}", dict)
    headers = _json(row, "headers", "{}", dict)
    try:
        publish = resolve(app, row.task, args, kwargs, _options(row, headers), app_zone=app_zone)
    except OptionError as exc:
        raise BadRow(row, exc.field, str(exc)) from None
    return Entry(
        name=row.name,
        schedule=schedule,
        kind="at" if one_off else {"interval": "every", "crontab": "cron"}.get(kind, kind),
        signatures=(publish.signature,),
        expires_s=publish.expires_s,
        expires_at=publish.expires_at,
        window=window,
        timezone=schedule.timezone if isinstance(schedule, Cron) else app_zone,
        source="database",
        where=f"database row {row.id} {row.name!r}",
        baseline=baseline,
        baseline_raises=row.last_run_at is None,
        row_id=row.id,
        one_off=one_off,
    )
