"""The schedules file: YAML in, a frozen :class:`ScheduleSet` out, or one error naming the field.

Strict on purpose: an unknown field, a bad cron, an unknown time zone or two schedules in one
entry fail the whole file (nothing is half loaded). Field names follow the Kubernetes style
(``catchUp``, ``startingDeadlineSeconds``); see docs/beat.md for the reference.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from scheduler.beat.cron import CronError, parse_cron, zone
from scheduler.beat.schedules import At, CatchUp, Cron, Every, Schedule, Solar, When, Window
from scheduler.beat.solar import SolarEvent

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h|d))+$")
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
KINDS = ("every", "cron", "at", "solar", "when")
TARGETS = ("task", "chain", "group")
ENTRY_FIELDS = frozenset(
    {
        "name", "args", "kwargs", "queue", "priority", "expires", "enabled", "startTime",
        "endTime", "catchUp", "startingDeadlineSeconds", "timezone", "checkEverySeconds",
        *KINDS, *TARGETS,
    }
)  # fmt: skip
SIGNATURE_FIELDS = frozenset({"task", "args", "kwargs", "queue", "priority", "immutable"})
SOLAR_FIELDS = frozenset({"event", "latitude", "longitude"})
DEFAULT_QUEUE = "default"
DEFAULT_CHECK_EVERY_S = 10.0


class SpecError(ValueError):
    """The schedules file is invalid; the message names the entry and the field."""

    def __init__(self, where: str, field_name: str | None, message: str) -> None:
        self.where, self.field = where, field_name
        at = f"{where}, field {field_name!r}" if field_name else where
        super().__init__(f"{at}: {message}")


@dataclass(frozen=True)
class Signature:
    task: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    queue: str = DEFAULT_QUEUE
    priority: int | None = None
    immutable: bool = False
    """As in Celery: a mutable chain link gets the previous task's result as first argument."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Celery publishing options of app and database entries beyond queue and priority:
    ``exchange``, ``routing_key``, ``headers``, ``time_limit``, ``soft_time_limit``,
    ``ignore_result`` (see :mod:`scheduler.beat.sources.options`)."""


@dataclass(frozen=True)
class Entry:
    name: str
    schedule: Schedule
    kind: str
    """Which schedule field the entry used: every, cron, at, solar or when."""
    signatures: tuple[Signature, ...]
    mode: str = "task"
    """task (one signature), chain (run in order) or group (all at once)."""
    expires_s: float | None = None
    enabled: bool = True
    window: Window = field(default_factory=Window)
    catch_up: CatchUp = CatchUp.LATEST
    starting_deadline_s: float | None = None
    timezone: str = "UTC"
    """For cron fields, naive ``at``/``startTime``/``endTime`` values and ``--check`` output."""
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
    if seconds <= 0:
        raise ValueError("must be greater than zero")
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


class _Entry:
    """Reads one mapping, remembering where it is for error messages."""

    def __init__(self, raw: Mapping[str, Any], where: str) -> None:
        self.raw, self.where = raw, where

    def fail(self, field_name: str | None, message: str) -> SpecError:
        return SpecError(self.where, field_name, message)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        if key not in self.raw or self.raw[key] is None:
            return default
        value = self.raw[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _tuple(kind)):
            raise self.fail(key, f"expected {_kind_name(kind)}, got {value!r}")
        return value

    def number(self, key: str, *, low: float, high: float | None = None) -> float | None:
        value = self.get(key, (int, float))
        if value is not None and (value < low or (high is not None and value > high)):
            bounds = f"{low}-{high}" if high is not None else f">= {low}"
            raise self.fail(key, f"{value} is out of range ({bounds})")
        return None if value is None else float(value)


def _tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {"str": "a string", "int": "a number", "float": "a number", "bool": "true or false"}
    names |= {"list": "a list", "dict": "a mapping"}
    return " or ".join(dict.fromkeys(names.get(k.__name__, k.__name__) for k in _tuple(kind)))


def _queue(reader: _Entry, key: str = "queue", default: str = DEFAULT_QUEUE) -> str:
    queue: str = reader.get(key, str, default)
    if not NAME.match(queue):
        raise reader.fail(key, f"{queue!r} is not a queue name")
    return queue


def _signature(raw: object, where: str, queue: str, priority: int | None) -> Signature:
    if not isinstance(raw, Mapping):
        raise SpecError(where, None, "a signature must be a mapping with a task")
    reader = _Entry(raw, where)
    unknown = sorted(set(raw) - SIGNATURE_FIELDS)
    if unknown:
        raise reader.fail(
            unknown[0], f"unknown field (known: {', '.join(sorted(SIGNATURE_FIELDS))})"
        )
    task = reader.get("task", str)
    if not task:
        raise reader.fail("task", "is required")
    pri = reader.number("priority", low=0, high=9)
    return Signature(
        task=task,
        args=tuple(reader.get("args", list, [])),
        kwargs=dict(reader.get("kwargs", dict, {})),
        queue=_queue(reader, default=queue),
        priority=int(pri) if pri is not None else priority,
        immutable=reader.get("immutable", bool, False),
    )


def _targets(reader: _Entry, queue: str, priority: int | None) -> tuple[str, tuple[Signature, ...]]:
    given = [key for key in TARGETS if reader.raw.get(key) is not None]
    if len(given) != 1:
        raise reader.fail(
            given[1] if len(given) > 1 else "task",
            "give exactly one of task, chain or group"
            + (f" (found {' and '.join(given)})" if given else ""),
        )
    mode = given[0]
    if mode == "task":
        own = {k: reader.raw[k] for k in ("task", "args", "kwargs") if k in reader.raw}
        return mode, (_signature(own, reader.where, queue, priority),)
    items = reader.get(mode, list)
    if not items:
        raise reader.fail(mode, "needs at least one signature")
    sigs = tuple(
        _signature(item, f"{reader.where}, {mode}[{i}]", queue, priority)
        for i, item in enumerate(items)
    )
    if mode != "task" and ("args" in reader.raw or "kwargs" in reader.raw):
        raise reader.fail("args" if "args" in reader.raw else "kwargs", f"goes inside the {mode}")
    return mode, sigs


def _solar(reader: _Entry) -> Solar:
    raw = reader.get("solar", dict)
    unknown = sorted(set(raw) - SOLAR_FIELDS)
    if unknown:
        raise reader.fail(
            "solar", f"unknown field {unknown[0]!r} (known: event, latitude, longitude)"
        )
    inner = _Entry(raw, reader.where)
    try:
        event = SolarEvent(inner.get("event", str, ""))
    except ValueError:
        known = ", ".join(e.value for e in SolarEvent)
        raise reader.fail("solar", f"event must be one of {known}") from None
    lat = inner.number("latitude", low=-90, high=90)
    lon = inner.number("longitude", low=-180, high=180)
    if lat is None or lon is None:
        raise reader.fail("solar", "needs latitude and longitude")
    return Solar(event, lat, lon)


def _schedule(reader: _Entry, tz_name: str, start: datetime | None) -> tuple[str, Schedule]:
    given = [key for key in KINDS if reader.raw.get(key) is not None]
    if len(given) != 1:
        field_name = given[1] if len(given) > 1 else None
        found = f" (found {' and '.join(given)})" if given else ""
        raise reader.fail(field_name, f"give exactly one of {', '.join(KINDS)}{found}")
    kind = given[0]
    value = reader.raw[kind]
    try:
        if kind == "every":
            interval = parse_duration(value)
            return kind, Every(interval, start) if start else Every(interval)
        if kind == "cron":
            return kind, Cron(parse_cron(reader.get("cron", str)), tz_name)
        if kind == "at":
            return kind, At(parse_instant(value, tz_name))
        if kind == "solar":
            return kind, _solar(reader)
        check = parse_duration(reader.raw.get("checkEverySeconds") or DEFAULT_CHECK_EVERY_S)
        path = reader.get("when", str)
        if not re.match(r"^[A-Za-z_][\w.]*[:.][A-Za-z_]\w*$", path):
            raise ValueError(f"{path!r} is not a dotted path to a callable (pkg.module:func)")
        return kind, When(path, check)
    except (ValueError, CronError) as exc:
        if isinstance(exc, SpecError):
            raise
        raise reader.fail(kind, str(exc)) from None


def _window(reader: _Entry, tz_name: str) -> Window:
    bounds: list[datetime | None] = []
    for key in ("startTime", "endTime"):
        value = reader.raw.get(key)
        try:
            bounds.append(None if value is None else parse_instant(value, tz_name))
        except ValueError as exc:
            raise reader.fail(key, str(exc)) from None
    start, end = bounds
    if start and end and end <= start:
        raise reader.fail("endTime", "must be after startTime")
    return Window(start, end)


def parse_entry(raw: object, index: int) -> Entry:
    where = f"schedules[{index}]"
    if not isinstance(raw, Mapping):
        raise SpecError(where, None, "an entry must be a mapping")
    reader = _Entry(raw, where)
    name = reader.get("name", str)
    if not name or not NAME.match(name):
        raise reader.fail("name", f"{name!r} is not a name (letters, digits, _ . -)")
    reader.where = f"{where} {name!r}"
    unknown = sorted(set(raw) - ENTRY_FIELDS)
    if unknown:
        raise reader.fail(unknown[0], "unknown field")
    tz_name = reader.get("timezone", str, "UTC")
    try:
        zone(tz_name)
    except CronError as exc:
        raise reader.fail("timezone", str(exc)) from None
    window = _window(reader, tz_name)
    kind, schedule = _schedule(reader, tz_name, window.start)
    priority = reader.number("priority", low=0, high=9)
    pri = int(priority) if priority is not None else None
    mode, sigs = _targets(reader, _queue(reader), pri)
    try:
        catch_up = CatchUp(reader.get("catchUp", str, CatchUp.LATEST.value))
    except ValueError:
        raise reader.fail("catchUp", "must be none, latest or all") from None
    return Entry(
        name=name,
        schedule=schedule,
        kind=kind,
        signatures=sigs,
        mode=mode,
        expires_s=reader.number("expires", low=0.001),
        enabled=reader.get("enabled", bool, True),
        window=window,
        catch_up=catch_up,
        starting_deadline_s=reader.number("startingDeadlineSeconds", low=0),
        timezone=tz_name,
    )


def parse_schedules(text: str | bytes) -> ScheduleSet:
    """Parse a whole file; the first problem raises :class:`SpecError`."""
    data = text.encode() if isinstance(text, str) else text
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise SpecError("file", None, f"not valid YAML: {exc}") from None
    if not isinstance(doc, Mapping) or "schedules" not in doc:
        raise SpecError("file", "schedules", "the file needs a top-level 'schedules:' list")
    extra = sorted(set(doc) - {"schedules"})
    if extra:
        raise SpecError("file", extra[0], "unknown top-level field")
    raw_entries = doc["schedules"] or []
    if not isinstance(raw_entries, list):
        raise SpecError("file", "schedules", "must be a list of entries")
    entries = tuple(parse_entry(raw, i) for i, raw in enumerate(raw_entries))
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.name in seen:
            raise SpecError(f"schedules[{i}] {entry.name!r}", "name", "is used twice")
        seen.add(entry.name)
    return ScheduleSet(entries, hashlib.sha256(data).hexdigest())


def load_schedules(path: Path) -> ScheduleSet:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(str(path), None, f"cannot read: {exc.strerror}") from None
    return parse_schedules(data)
