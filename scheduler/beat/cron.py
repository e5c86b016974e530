"""Five-field cron expressions in an IANA time zone: parsing and the next fire instant. Pure.

Fields: minute hour day-of-month month day-of-week, with ``*``, ``a-b``, ``*/n``, ``a-b/n``,
``a/n``, lists and month/day names; day-of-week 0 and 7 are Sunday. When both day fields are
restricted a day matches if either does (as in Vixie cron and croniter).

Daylight saving (the wall clock of ``timezone`` is what the fields describe):

* Entries with a fixed hour field (``30 2 * * *``, ``0 9-17 * * 1-5``) fire once per matching
  wall-clock time. A time in the skipped hour fires once at the first valid instant after the
  gap (02:30 on the spring-forward day fires at 03:00); a time in the repeated hour fires once,
  at its first occurrence (the summer-time one).
* Entries whose hour field is ``*`` (``*/15 * * * *``) follow elapsed time: nothing fires in the
  skipped hour (it did not happen), and the repeated hour fires twice, once in each pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# (name, lowest, highest, names accepted for the values from `lowest` on)
FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day-of-week", 0, 7, DAYS),
)
SEARCH_YEARS = 28
"""A field combination that matches no date within this many years matches none (30 2 * *).
28 years hold every weekday of every date, 29 February included, which Celery's crontab (both
day fields must match) needs."""


class CronError(ValueError):
    """A cron expression or time zone is invalid; the message says which part and why."""


@dataclass(frozen=True)
class CronExpr:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 = Sunday ... 6 = Saturday (7 is folded into 0)."""
    day_or: bool
    """Both day fields restricted: a day matches if either field does."""
    wildcard_hour: bool
    """The hour field is ``*``: follow elapsed time across DST changes."""
    text: str

    def day_matches(self, day: datetime) -> bool:
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        return (dom or dow) if self.day_or else (dom and dow)


def _value(token: str, field: int) -> int:
    name, low, high, names = FIELDS[field]
    lowered = token.lower()
    if names and lowered in names:
        return names.index(lowered) + low if name == "month" else names.index(lowered)
    if not token.isdigit():
        raise CronError(f"{name} field: {token!r} is not a number")
    value = int(token)
    if not low <= value <= high:
        raise CronError(f"{name} field: {value} is outside {low}-{high}")
    return value


def _part(part: str, field: int) -> set[int]:
    name, low, high, _ = FIELDS[field]
    base, _, step_s = part.partition("/")
    step = 1
    if step_s:
        if not step_s.isdigit() or int(step_s) == 0:
            raise CronError(f"{name} field: step {step_s!r} must be a positive number")
        step = int(step_s)
    if base == "*":
        start, stop = low, high
    elif "-" in base:
        start_s, stop_s = base.split("-", 1)
        start, stop = _value(start_s, field), _value(stop_s, field)
        if start > stop:
            raise CronError(f"{name} field: range {base!r} runs backwards")
    else:
        start = _value(base, field)
        stop = high if step_s else start
    return set(range(start, stop + 1, step))


def _field(text: str, field: int) -> frozenset[int]:
    if not text:
        raise CronError(f"{FIELDS[field][0]} field is empty")
    values: set[int] = set()
    for part in text.split(","):
        values |= _part(part, field)
    return frozenset(values)


def parse_cron(text: str) -> CronExpr:
    """Parse five cron fields (or an @macro); raises :class:`CronError` naming the field."""
    expanded = MACROS.get(text.strip().lower(), text)
    parts = expanded.split()
    if len(parts) != 5:
        raise CronError(f"{text!r} has {len(parts)} fields, cron needs 5")
    values = [_field(part, i) for i, part in enumerate(parts)]
    weekdays = frozenset(d % 7 for d in values[4])
    dom_star, dow_star = parts[2] == "*", parts[4] == "*"
    expr = CronExpr(
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        day_or=not dom_star and not dow_star,
        wildcard_hour=parts[1] == "*",
        text=text,
    )
    if _next_wall(expr, datetime(2000, 1, 1)) is None:
        raise CronError(f"{text!r} matches no date")
    return expr


def cron_from_sets(
    *,
    minutes: frozenset[int],
    hours: frozenset[int],
    days: frozenset[int],
    months: frozenset[int],
    weekdays: frozenset[int],
    text: str,
) -> CronExpr:
    """A cron from sets of values already parsed elsewhere, with Celery's day rule: a day
    matches when both day fields match (Celery's ``crontab`` ANDs them, Vixie cron ORs them).
    The hour field counts as ``*`` when it holds every hour. :class:`CronError` when the sets
    are out of range or match no date."""
    for (name, low, high, _), values in zip(
        FIELDS, (minutes, hours, days, months, weekdays), strict=True
    ):
        if not values:
            raise CronError(f"{name} field is empty")
        bad = sorted(v for v in values if not low <= v <= high)
        if bad:
            raise CronError(f"{name} field: {bad[0]} is outside {low}-{high}")
    expr = CronExpr(
        minutes=frozenset(minutes),
        hours=frozenset(hours),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(d % 7 for d in weekdays),
        day_or=False,
        wildcard_hour=len(hours) == 24,
        text=text,
    )
    if _next_wall(expr, datetime(2000, 1, 1)) is None:
        raise CronError(f"{text!r} matches no date")
    return expr


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises :class:`CronError` for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"unknown time zone {name!r}") from exc


def _first_at_least(values: frozenset[int], low: int) -> int | None:
    candidates = [v for v in values if v >= low]
    return min(candidates) if candidates else None


def _next_wall(expr: CronExpr, after: datetime) -> datetime | None:
    """The first naive wall-clock minute strictly after ``after`` that matches ``expr``."""
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = after.year + SEARCH_YEARS
    while t.year <= limit:
        if t.month not in expr.months:
            t = datetime(t.year + t.month // 12, t.month % 12 + 1, 1)
            continue
        if not expr.day_matches(t):
            t = datetime(t.year, t.month, t.day) + timedelta(days=1)
            continue
        hour = _first_at_least(expr.hours, t.hour)
        if hour is None:
            t = datetime(t.year, t.month, t.day) + timedelta(days=1)
            continue
        if hour != t.hour:
            t = t.replace(hour=hour, minute=0)
        minute = _first_at_least(expr.minutes, t.minute)
        if minute is None:
            t = t.replace(minute=0) + timedelta(hours=1)
            continue
        return t.replace(minute=minute)
    return None


def _exists(wall: datetime, tz: ZoneInfo, fold: int) -> bool:
    aware = wall.replace(tzinfo=tz, fold=fold)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall


def _gap_end(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first instant after the skipped wall-clock span that contains ``wall``."""
    lo = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)  # before the transition
    hi = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)  # after it
    before = lo.astimezone(tz).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(tz).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return hi


def instants(expr: CronExpr, wall: datetime, tz: ZoneInfo) -> list[datetime]:
    """The UTC instants at which the wall-clock time ``wall`` fires (0, 1 or 2 of them)."""
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    if not _exists(wall, tz, 0):  # in a skipped span
        return [] if expr.wildcard_hour else [_gap_end(wall, tz)]
    if first.utcoffset() != second.utcoffset() and not expr.wildcard_hour:
        return [first.astimezone(UTC)]  # repeated: the first occurrence only
    return sorted({first.astimezone(UTC), second.astimezone(UTC)})


MARGIN = timedelta(hours=3)
"""Wall clocks move against UTC by at most this around a transition we search across."""


def _transition_near(instant: datetime, tz: ZoneInfo) -> bool:
    return (instant - MARGIN).astimezone(tz).utcoffset() != (instant + MARGIN).astimezone(
        tz
    ).utcoffset()


def next_cron(expr: CronExpr, tz: ZoneInfo, after: datetime) -> datetime | None:
    """The first fire instant (UTC) strictly after the aware instant ``after``.

    Wall-clock order is instant order except near a DST transition, so near one the search
    starts a margin earlier and looks a margin past the best candidate.
    """
    after_utc = after.astimezone(UTC)
    wall = after_utc.astimezone(tz).replace(tzinfo=None)
    if _transition_near(after_utc, tz):
        wall -= MARGIN
    best: datetime | None = None
    while True:
        found = _next_wall(expr, wall)
        if found is None:
            return best
        if best is not None and (
            found > best.astimezone(tz).replace(tzinfo=None) + MARGIN
            or not _transition_near(best, tz)
        ):
            return best
        for instant in instants(expr, found, tz):
            if instant > after_utc and (best is None or instant < best):
                best = instant
        wall = found
