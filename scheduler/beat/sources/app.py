"""The app's ``beat_schedule`` as a source (``shoal beat --app APP``).

Each entry (``task``, ``schedule``, ``args``, ``kwargs``, ``options``, ``relative``) becomes an
:class:`~scheduler.beat.spec.Entry` scheduled in the app's time zone (``timezone`` /
``enable_utc``) and published as ``celery -A APP beat`` would publish it
(:mod:`.options`). Anything that cannot be kept (a schedule class of its own, an option the
beat cannot publish) stops the beat at start with one line naming the entry and the field,
as a bad schedules file does. The schedule is the app's code: a change needs a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from scheduler.beat.cron import CronError
from scheduler.beat.schedules import At, Cron, Every, Schedule, Solar
from scheduler.beat.sources import Changes
from scheduler.beat.sources.celery_schedules import ScheduleError, app_zone_name, to_schedule
from scheduler.beat.sources.options import OptionError, resolve
from scheduler.beat.spec import Entry, SpecError

log = logging.getLogger("shoal.beat")
ENTRY_KEYS = frozenset({"task", "schedule", "args", "kwargs", "options", "relative"})
BEAT_HEADER = "celery_beat_task"
"""The header ``celery beat`` adds to every message it publishes."""


def kind_of(schedule: Schedule) -> str:
    return {Cron: "cron", Every: "every", Solar: "solar", At: "at"}.get(type(schedule), "every")


def app_zone(app: Any) -> str:
    try:
        return app_zone_name(app.conf.timezone, bool(app.conf.enable_utc))
    except CronError as exc:
        raise SpecError(f"the app's timezone {app.conf.timezone!r}", "timezone", str(exc)) from None


def parse_app_entry(app: Any, name: str, raw: object, *, where: str, zone_name: str) -> Entry:
    """One ``beat_schedule`` entry; :class:`SpecError` names the entry and the field."""
    if not isinstance(raw, Mapping):
        raise SpecError(where, None, "an entry must be a mapping with task and schedule")
    unknown = sorted(set(raw) - ENTRY_KEYS)
    if unknown:
        raise SpecError(where, unknown[0], f"unknown key (known: {', '.join(sorted(ENTRY_KEYS))})")
    task = raw.get("task")
    if not isinstance(task, str) or not task:
        raise SpecError(where, "task", "is required (the task's name)")
    try:
        schedule = to_schedule(raw.get("schedule"), zone_name)
    except ScheduleError as exc:
        raise SpecError(where, exc.field, str(exc)) from None
    args, kwargs = raw.get("args") or (), raw.get("kwargs") or {}
    if not isinstance(args, list | tuple) or not isinstance(kwargs, Mapping):
        bad = "args" if not isinstance(args, list | tuple) else "kwargs"
        raise SpecError(where, bad, "args must be a list and kwargs a mapping")
    options = dict(raw.get("options") or {})
    options["headers"] = {**(options.get("headers") or {}), BEAT_HEADER: True}
    try:
        publish = resolve(app, task, list(args), dict(kwargs), options, app_zone=zone_name)
    except OptionError as exc:
        raise SpecError(where, f"options.{exc.field}", str(exc)) from None
    return Entry(
        name=name,
        schedule=schedule,
        kind=kind_of(schedule),
        signatures=(publish.signature,),
        expires_s=publish.expires_s,
        expires_at=publish.expires_at,
        timezone=schedule.timezone if isinstance(schedule, Cron) else zone_name,
        source="app",
        where=where,
    )


class AppSource:
    kind = "app"

    def __init__(self, app: Any, spec: str) -> None:
        self.app = app
        self.spec = spec

    def load(self) -> list[Entry]:
        zone_name = app_zone(self.app)
        schedule = self.app.conf.beat_schedule or {}
        if not isinstance(schedule, Mapping):
            raise SpecError(f"--app {self.spec}", "beat_schedule", "is not a mapping")
        entries = [
            parse_app_entry(self.app, str(n), raw, where=self.where(str(n)), zone_name=zone_name)
            for n, raw in schedule.items()
        ]
        log.info("%s: %d beat_schedule entries, time zone %s", self.spec, len(entries), zone_name)
        return entries

    def where(self, name: str) -> str:
        return f"the app's beat_schedule ({self.spec}) entry {name!r}"

    def poll(self) -> Changes:
        return Changes()

    def fired(self, entry: Entry, tick: datetime, published: datetime) -> None:
        return None

    def reject(self, entry: Entry, field_name: str, message: str) -> None:
        log.error("%s, field %r: %s; the entry is left out", entry.where, field_name, message)

    def close(self) -> None:
        return None
