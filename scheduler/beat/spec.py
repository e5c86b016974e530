"""The schedules file: YAML in, a frozen :class:`ScheduleSet` out, or one error naming the field.

Strict on purpose: an unknown field, a bad cron, an unknown time zone, two schedules in one
entry or a key given twice in one mapping fail the whole file (nothing is half loaded). Field
names follow the Kubernetes style (``catchUp``, ``startingDeadlineSeconds``); see docs/beat.md
for the reference. Each field is declared once (:mod:`contract.fields`), so errors read as every
shoal error does: ``schedules[2] 'nightly'.priority: expected an integer from 0 to 9, got 5.5``.
A priority is a whole number: ``5.0`` reads as 5 (as it does through Helm, which writes every
number as a float), ``5.5`` is an error.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from contract.fields import (
    REQUIRED,
    ConfigError,
    Invalid,
    Kind,
    Setting,
    declared,
    join,
    read_mapping,
    refuse_unknown,
    shown,
    value_of,
)
from contract.kinds import AnyList, AnyMapping, Boolean, Choice, Integer, Number, Text
from contract.priority import HIGHEST
from contract.queues import DEFAULT_QUEUE, QueueName
from contract.yamlfile import YamlError, load_strict
from scheduler.beat.cron import CronError, parse_cron, zone
from scheduler.beat.schedules import At, CatchUp, Cron, Every, Schedule, Solar, When, Window
from scheduler.beat.solar import SolarEvent

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
CALLABLE = r"^[A-Za-z_][\w.]*[:.][A-Za-z_]\w*$"
DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h|d))+$")
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
KINDS = ("every", "cron", "at", "solar", "when")
TARGETS = ("task", "chain", "group")
DEFAULT_CHECK_EVERY_S = 10.0


class SpecError(ConfigError):
    """The schedules file is invalid; the message names the entry and the field.

    ``SpecError(where, problem)`` as every :class:`ConfigError`, or ``SpecError(where, field,
    problem)`` for a field of the entry at ``where`` (``field`` None: the entry itself)."""

    def __init__(self, where: str, *rest: str | None) -> None:
        self.field: str | None = None
        if len(rest) == 2:
            self.field, problem = rest
            super().__init__(join(where, self.field) if self.field else where, problem)
        else:
            super().__init__(where, *rest)


class Duration(Kind[float]):
    """``30s``, ``5m``, ``1h``, ``1h30m``, ``500ms`` or a number of seconds, above zero."""

    what = "a duration above 0 such as 30s, 5m, 1h or a number of seconds"
    unit = "s"

    def parse_value(self, value: object, where: str) -> float:
        try:
            return parse_duration(value)
        except ValueError:
            raise self.fail(value) from None


class TimeZone(Kind[str]):
    """An IANA time zone name (``Europe/Berlin``)."""

    what = "an IANA time zone such as Europe/Berlin"

    def parse_value(self, value: object, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(value)
        try:
            zone(value)
        except CronError as exc:
            raise Invalid(str(exc)) from None
        return value


QUEUE = Setting(QueueName(), DEFAULT_QUEUE, "The queue the task goes to.", key="queue")
PRIORITY = Setting(
    Integer(0, HIGHEST), None, "The Celery priority, 9 the most urgent.", key="priority"
)


@dataclass(frozen=True)
class Signature:
    """One task to publish: the entry's own ``task``, or an item of its ``chain`` or ``group``."""

    task: str = Setting(Text(min_length=1), REQUIRED, "The Celery task's name.", key="task").field()
    args: tuple[Any, ...] = Setting(AnyList(), (), "Positional arguments.", key="args").field()
    kwargs: Mapping[str, Any] = Setting(
        AnyMapping(), None, "Keyword arguments.", key="kwargs", factory=dict
    ).field()
    queue: str = QUEUE.field()
    priority: int | None = PRIORITY.field()
    immutable: bool = Setting(
        Boolean(),
        False,
        "As in Celery: a mutable chain link gets the previous task's result as first argument.",
        key="immutable",
    ).field()
    options: Mapping[str, Any] = field(default_factory=dict)
    """Celery publishing options of app and database entries beyond queue and priority:
    ``exchange``, ``routing_key``, ``headers``, ``time_limit``, ``soft_time_limit``,
    ``ignore_result`` (see :mod:`scheduler.beat.sources.options`)."""


@dataclass(frozen=True)
class Entry:
    schedule: Schedule
    kind: str
    """Which schedule field the entry used: every, cron, at, solar or when."""
    signatures: tuple[Signature, ...]
    name: str = Setting(
        Text(pattern=NAME, rule="a name (letters, digits, _ . -, at most 100)"),
        REQUIRED,
        "Unique in the file; keys in Redis and metric labels use it.",
        key="name",
    ).field()
    mode: str = "task"
    """task (one signature), chain (run in order) or group (all at once)."""
    expires_s: float | None = Setting(
        Number(0, exclusive_minimum=True, unit="s"),
        None,
        "A worker drops the task if it starts later than this after publishing.",
        key="expires",
    ).field()
    enabled: bool = Setting(
        Boolean(), True, "A disabled entry keeps its state and fires nothing.", key="enabled"
    ).field()
    window: Window = field(default_factory=Window)
    catch_up: CatchUp = Setting(
        Choice(tuple(CatchUp)), CatchUp.LATEST, "What an outage's missed ticks give.", key="catchUp"
    ).field()
    starting_deadline_s: float | None = Setting(
        Number(0, unit="s"),
        None,
        "A tick later than this never fires.",
        key="startingDeadlineSeconds",
    ).field()
    timezone: str = Setting(
        TimeZone(),
        "UTC",
        "For cron fields, naive at/startTime/endTime values and --check output.",
        key="timezone",
    ).field()
    source: str = "file"
    """Where the entry comes from: ``file``, ``app`` (its beat_schedule) or ``database``."""
    where: str = ""
    """The place that defines it, for messages (a file's entry, the app's setting, a row)."""
    baseline: datetime | None = None
    """Without state in Redis, ticks after this instant are due; None: after the first sighting
    (a database row's ``last_run_at``, else when it was saved)."""
    baseline_raises: bool = False
    """The baseline also moves an older state forward (a database row enabled again)."""
    expires_at: datetime | None = None
    """A fixed expiry instant for the messages (a database row's ``expires``)."""
    row_id: int | None = None
    """The database row (django-celery-beat's ``PeriodicTask.id``) the entry was read from."""
    one_off: bool = False
    """A database row's ``one_off``: it is disabled in the table after its run."""


CHECK_EVERY = Setting(
    Duration(),
    DEFAULT_CHECK_EVERY_S,
    "How often a when condition is called.",
    key="checkEverySeconds",
)
ENTRY_SETTINGS = {
    **declared(Entry),
    "queue": QUEUE,
    "priority": PRIORITY,
    "check_every_s": CHECK_EVERY,
}
"""The scalar fields of an entry, read in one go; the schedule and the targets have their own."""
ENTRY_EXTRA = (*KINDS, *TARGETS, "args", "kwargs", "startTime", "endTime")


@dataclass(frozen=True)
class SolarFields:
    event: SolarEvent = Setting(
        Choice(tuple(SolarEvent)), REQUIRED, "The event.", key="event"
    ).field()
    latitude: float = Setting(Number(-90, 90), REQUIRED, "Degrees north.", key="latitude").field()
    longitude: float = Setting(
        Number(-180, 180), REQUIRED, "Degrees east.", key="longitude"
    ).field()


WHEN = Setting(
    Text(pattern=CALLABLE, rule="a dotted path to a callable (pkg.module:func)"),
    REQUIRED,
    "The condition: the entry fires when its result turns from false to true.",
)


@dataclass(frozen=True)
class ScheduleSet:
    entries: tuple[Entry, ...]
    digest: str
    """sha256 of the file's bytes: a reload with the same digest changes nothing."""

    def by_name(self) -> dict[str, Entry]:
        return {entry.name: entry for entry in self.entries}


def parse_duration(value: object) -> float:
    """``30s``, ``5m``, ``1h``, ``1h30m``, ``500ms`` or a number of seconds; must be > 0."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and DURATION.match(value.strip()):
        seconds = sum(float(n) * UNIT_S[u] for n, u in DURATION_PART.findall(value))
    else:
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 1h")
    if not seconds > 0 or math.isinf(seconds):
        raise ValueError("must be greater than zero and finite")
    return seconds


def parse_instant(value: object, tz_name: str) -> datetime:
    """An ISO date-time; one without an offset is read in the entry's ``timezone``."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date-time") from None
    else:
        raise ValueError(f"{value!r} is not an ISO date-time")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(tz_name))
    return parsed.astimezone(UTC)


def _signature(raw: object, where: str, queue: str, priority: int | None) -> Signature:
    if not isinstance(raw, Mapping):
        raise SpecError(where, f"expected a signature (a mapping with a task), got {shown(raw)}")
    values = read_mapping(
        declared(Signature), raw, where, defaults={"queue": queue, "priority": priority}
    )
    return Signature(**values)


def _targets(
    raw: Mapping[str, Any], where: str, queue: str, priority: int | None
) -> tuple[str, tuple[Signature, ...]]:
    given = [key for key in TARGETS if raw.get(key) is not None]
    if len(given) != 1:
        found = f" (found {' and '.join(given)})" if given else ""
        at = join(where, given[1] if len(given) > 1 else "task")
        raise SpecError(at, f"give exactly one of task, chain or group{found}")
    mode = given[0]
    if mode == "task":
        own = {k: raw[k] for k in ("task", "args", "kwargs") if k in raw}
        return mode, (_signature(own, where, queue, priority),)
    items = raw[mode]
    if not isinstance(items, list):
        raise SpecError(join(where, mode), f"expected a list of signatures, got {shown(items)}")
    if not items:
        raise SpecError(join(where, mode), "needs at least one signature")
    if "args" in raw or "kwargs" in raw:
        raise SpecError(
            join(where, "args" if "args" in raw else "kwargs"), f"goes inside the {mode}"
        )
    sigs = tuple(
        _signature(item, f"{join(where, mode)}[{i}]", queue, priority)
        for i, item in enumerate(items)
    )
    return mode, sigs


def _schedule(
    raw: Mapping[str, Any], where: str, tz_name: str, start: datetime | None, check_s: float
) -> tuple[str, Schedule]:
    given = [key for key in KINDS if raw.get(key) is not None]
    if len(given) != 1:
        found = f" (found {' and '.join(given)})" if given else ""
        at = join(where, given[1]) if len(given) > 1 else where
        raise SpecError(at, f"give exactly one of {', '.join(KINDS)}{found}")
    kind = given[0]
    value, at = raw[kind], join(where, kind)
    if kind == "solar":
        solar = SolarFields(**read_mapping(declared(SolarFields), value, at))
        return kind, Solar(solar.event, solar.latitude, solar.longitude)
    if kind == "when":
        return kind, When(value_of(WHEN, value, at), check_s)
    try:
        if kind == "every":
            interval = Duration().parse_value(value, at)
            return kind, Every(interval, start) if start else Every(interval)
        if kind == "cron":
            if not isinstance(value, str):
                raise Invalid(
                    f"expected a cron expression such as '0 15 * * *', got {shown(value)}"
                )
            return kind, Cron(parse_cron(value), tz_name)
        return kind, At(parse_instant(value, tz_name))
    except (ValueError, CronError) as exc:
        raise SpecError(at, str(exc)) from None


def _window(raw: Mapping[str, Any], where: str, tz_name: str) -> Window:
    bounds: list[datetime | None] = []
    for key in ("startTime", "endTime"):
        value = raw.get(key)
        try:
            bounds.append(None if value is None else parse_instant(value, tz_name))
        except ValueError as exc:
            raise SpecError(join(where, key), str(exc)) from None
    start, end = bounds
    if start and end and end <= start:
        raise SpecError(join(where, "endTime"), "must be after startTime")
    return Window(start, end)


def parse_entry(raw: object, index: int) -> Entry:
    where = f"schedules[{index}]"
    if not isinstance(raw, Mapping):
        raise SpecError(where, f"expected an entry (a mapping), got {shown(raw)}")
    name = value_of(ENTRY_SETTINGS["name"], raw.get("name"), join(where, "name"))
    where = f"{where} {name!r}"
    values = read_mapping(ENTRY_SETTINGS, raw, where, extra=ENTRY_EXTRA)
    tz_name = values["timezone"]
    window = _window(raw, where, tz_name)
    kind, schedule = _schedule(raw, where, tz_name, window.start, values.pop("check_every_s"))
    mode, sigs = _targets(raw, where, values.pop("queue"), values.pop("priority"))
    return Entry(**values, schedule=schedule, kind=kind, signatures=sigs, mode=mode, window=window)


def parse_schedules(text: str | bytes) -> ScheduleSet:
    """Parse a whole file; the first problem raises :class:`SpecError`."""
    data = text.encode() if isinstance(text, str) else text
    try:
        doc = load_strict(data)
    except YamlError as exc:
        raise SpecError(str(exc)) from None
    if not isinstance(doc, Mapping) or "schedules" not in doc:
        raise SpecError("the file needs a top-level 'schedules:' list")
    raw_entries = doc["schedules"] or []
    try:
        refuse_unknown(doc, ["schedules"], "")
        if not isinstance(raw_entries, list):
            raise SpecError("schedules", f"expected a list of entries, got {shown(raw_entries)}")
        entries = tuple(parse_entry(raw, i) for i, raw in enumerate(raw_entries))
    except SpecError:
        raise
    except ConfigError as exc:
        raise SpecError(exc.where, exc.problem) from None
    first: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if entry.name in first:
            raise SpecError(
                f"schedules[{i}] {entry.name!r}.name",
                f"is used twice (first by schedules[{first[entry.name]}])",
            )
        first[entry.name] = i
    return ScheduleSet(entries, hashlib.sha256(data).hexdigest())


def load_schedules(path: Path) -> ScheduleSet:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(str(path), f"cannot read: {exc.strerror}") from None
    return parse_schedules(data)
