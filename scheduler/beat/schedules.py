"""Schedule maths: pure functions of (schedule, previous fire time, now). No clock, no I/O.

Every schedule is a sequence of *ticks*: UTC instants that every beat replica computes the same
way, so a tick's epoch milliseconds identify it across replicas (the fence key in Redis).

* ``Every``: multiples of the interval counted from ``anchor`` (the Unix epoch unless the entry
  has a ``startTime``), so ``every: 1h`` fires on the hour in UTC.
* ``Cron``: see :mod:`scheduler.beat.cron` for the fields and the daylight-saving rules.
* ``At``: one instant; after it there are no more ticks.
* ``Solar``: a sun event each day at a latitude and longitude (days without it are skipped).
* ``When``: condition checks every ``check_every_s`` (epoch-aligned); the runner evaluates the
  condition at each check and fires on a false-to-true edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from scheduler.beat.cron import CronExpr, next_cron, zone
from scheduler.beat.solar import SolarEvent, next_solar

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_CATCH_UP_TICKS = 1000
"""``catchUp: all`` fires at most this many ticks after one outage (the newest ones)."""
ON_TIME_S = 2.0
"""A tick at most this late is on time: it fires whatever the catch-up policy."""


class CatchUp(StrEnum):
    NONE = "none"
    """Ticks that fell during an outage are dropped; the next tick fires as usual."""
    LATEST = "latest"
    """The newest missed tick fires once for the whole gap (a Kubernetes CronJob's way)."""
    ALL = "all"
    """Each missed tick fires, oldest first (those older than the deadline are dropped)."""


@dataclass(frozen=True)
class Every:
    interval_s: float
    anchor: datetime = EPOCH


@dataclass(frozen=True)
class Cron:
    expr: CronExpr
    timezone: str


@dataclass(frozen=True)
class At:
    instant: datetime


@dataclass(frozen=True)
class Solar:
    event: SolarEvent
    latitude: float
    longitude: float


@dataclass(frozen=True)
class When:
    condition: str
    """Dotted path ``package.module:callable`` or ``package.module.callable``."""
    check_every_s: float


Schedule = Every | Cron | At | Solar | When


@dataclass(frozen=True)
class Window:
    """An entry's optional ``startTime`` and ``endTime``: ticks outside it do not exist."""

    start: datetime | None = None
    end: datetime | None = None


def _next_interval(interval_s: float, anchor: datetime, after: datetime) -> datetime:
    elapsed = (after - anchor).total_seconds()
    n = math.floor(elapsed / interval_s) + 1 if elapsed >= 0 else 0
    tick = anchor + timedelta(seconds=n * interval_s)
    while tick <= after:  # float rounding at the boundary
        n += 1
        tick = anchor + timedelta(seconds=n * interval_s)
    return tick


def next_tick(schedule: Schedule, after: datetime) -> datetime | None:
    """The schedule's first tick strictly after ``after`` (aware), in UTC; None when done."""
    after = after.astimezone(UTC)
    match schedule:
        case Every(interval_s, anchor):
            return _next_interval(interval_s, anchor, after)
        case When(_, check_every_s):
            return _next_interval(check_every_s, EPOCH, after)
        case Cron(expr, timezone):
            return next_cron(expr, zone(timezone), after)
        case At(instant):
            return instant.astimezone(UTC) if instant > after else None
        case Solar(event, latitude, longitude):
            return next_solar(event, latitude, longitude, after)
    raise TypeError(f"not a schedule: {schedule!r}")


def next_fire(schedule: Schedule, after: datetime, window: Window = Window()) -> datetime | None:
    """The first tick strictly after ``after`` inside ``window``; None when there is none."""
    if window.start is not None and after < window.start:
        after = window.start - timedelta(microseconds=1)
    tick = next_tick(schedule, after)
    if tick is None or (window.end is not None and tick > window.end):
        return None
    return tick


def _ticks_and_dropped(
    schedule: Schedule, after: datetime, until: datetime, window: Window
) -> tuple[list[datetime], int]:
    """Ticks in ``(after, until]``, the newest ``MAX_CATCH_UP_TICKS``; and how many older ones
    were left out."""
    step_s, anchor = None, EPOCH
    if isinstance(schedule, Every):
        step_s, anchor = schedule.interval_s, schedule.anchor
    elif isinstance(schedule, When):
        step_s = schedule.check_every_s
    dropped = 0
    if step_s is not None:  # skip what the cap would drop anyway, in one step
        span = (until - after).total_seconds() / step_s
        if span > MAX_CATCH_UP_TICKS + 1:
            skip_to = until - timedelta(seconds=(MAX_CATCH_UP_TICKS + 1) * step_s)
            lower = max(after, window.start or after)
            if skip_to > lower:
                # ticks are anchor + k * step for k >= 0: none before the anchor to drop
                before = max(-1, math.floor((lower - anchor).total_seconds() / step_s))
                upto = max(-1, math.floor((skip_to - anchor).total_seconds() / step_s))
                dropped = upto - before
            after = max(after, skip_to)
    ticks: list[datetime] = []
    tick = next_fire(schedule, after, window)
    while tick is not None and tick <= until:
        ticks.append(tick)
        tick = next_fire(schedule, tick, window)
    dropped += max(0, len(ticks) - MAX_CATCH_UP_TICKS)
    return ticks[-MAX_CATCH_UP_TICKS:], dropped


def ticks_between(
    schedule: Schedule, after: datetime, until: datetime, window: Window = Window()
) -> list[datetime]:
    """Every tick in ``(after, until]``; at most the newest ``MAX_CATCH_UP_TICKS`` of them."""
    return _ticks_and_dropped(schedule, after, until, window)[0]


@dataclass(frozen=True)
class DueTicks:
    """What one pass of the beat does for an entry, and why."""

    fire: tuple[datetime, ...]
    skipped: int
    """Due ticks not fired: dropped by the catch-up policy or past the starting deadline."""
    reason: str


def due_ticks(
    schedule: Schedule,
    last_tick: datetime,
    now: datetime,
    catch_up: CatchUp,
    deadline_s: float | None,
    window: Window = Window(),
    on_time_s: float = ON_TIME_S,
) -> DueTicks:
    """Which ticks in ``(last_tick, now]`` to fire now.

    A tick later than ``deadline_s`` (``startingDeadlineSeconds``) never fires. A tick at most
    ``on_time_s`` late is the current tick and fires. Older ones were missed (the beat was
    down or stalled); ``catch_up`` decides: none drops them, latest fires only the newest due
    tick, all fires each of them in order.
    """
    due, too_old = _ticks_and_dropped(schedule, last_tick, now, window)
    if not due:
        return DueTicks((), 0, "nothing due")
    if deadline_s is not None:
        live = [t for t in due if (now - t).total_seconds() <= deadline_s]
    else:
        live = due
    expired = len(due) - len(live)
    if catch_up is CatchUp.ALL:
        fire = live
    elif catch_up is CatchUp.LATEST:
        fire = live[-1:]
    else:
        fire = [t for t in live[-1:] if (now - t).total_seconds() <= on_time_s]
    reason = f"catchUp {catch_up.value}: {len(fire)} of {len(due) + too_old} due tick(s)"
    if expired:
        reason += f", {expired} past the starting deadline"
    if too_old:
        reason += f", {too_old} older than the newest {MAX_CATCH_UP_TICKS}"
    return DueTicks(tuple(fire), len(due) + too_old - len(fire), reason)
