"""The app's ``beat_schedule`` synced into django-celery-beat's table, as its scheduler does.

django-celery-beat's ``DatabaseScheduler.setup_schedule`` writes every ``beat_schedule`` entry
(and ``celery.backend_cleanup`` at 04:00 when ``result_expires`` is set) into ``PeriodicTask``
by name at each start, with the schedule rows found or created by the models'
``from_schedule``. The same fields are written here, with one difference: a row that already
holds them is not saved again, so a restart does not move ``date_changed`` (from which an
interval row counts). ``enabled`` is left as the admin set it. Options the table has no
column for (``expires`` among them) are dropped by django-celery-beat; each drop is logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from scheduler.beat.spec import SpecError

log = logging.getLogger("shoal.beat")
KEPT_OPTIONS = ("queue", "exchange", "routing_key", "priority", "headers", "expire_seconds")
CLEANUP = "celery.backend_cleanup"


def default_entries(app: Any) -> dict[str, dict[str, Any]]:
    """django-celery-beat's ``install_default_entries``."""
    from celery import schedules

    if not app.conf.result_expires:
        return {}
    return {
        CLEANUP: {
            "task": CLEANUP,
            "schedule": schedules.crontab("0", "4", "*"),
            "options": {"expire_seconds": 12 * 3600},
        }
    }


def _schedule_field(app: Any, value: object) -> tuple[str, Any]:
    """``ModelEntry.to_model_schedule``: the schedule row, found or created."""
    from celery import schedules
    from django_celery_beat import clockedschedule, models

    schedule = schedules.maybe_schedule(value, False, app=app)
    for kind, model, field in (
        (schedules.crontab, models.CrontabSchedule, "crontab"),
        (schedules.schedule, models.IntervalSchedule, "interval"),
        (schedules.solar, models.SolarSchedule, "solar"),
        (clockedschedule.clocked, models.ClockedSchedule, "clocked"),
    ):
        if isinstance(schedule, kind):
            row = model.from_schedule(schedule)
            if row.pk is None:
                row.save()
            return field, row
    raise ValueError(f"cannot store schedule {schedule!r} in django-celery-beat's tables")


def row_fields(app: Any, name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The ``PeriodicTask`` fields of one entry (``ModelEntry._unpack_fields``)."""
    entry = dict(raw)
    options = dict(entry.pop("options", None) or {})
    dropped = sorted(set(options) - set(KEPT_OPTIONS))
    if dropped:
        log.warning("beat_schedule %r: option(s) %s not kept: django-celery-beat's table has no "
                    "column for them", name, ", ".join(dropped))  # fmt: skip
    field, schedule_row = _schedule_field(app, entry.pop("schedule", None))
    entry.pop("relative", None)
    fields: dict[str, Any] = {f: None for f in ("interval", "crontab", "solar", "clocked")}
    fields[field] = schedule_row
    fields.update(
        task=entry.pop("task", None),
        args=json.dumps(list(entry.pop("args", None) or [])),
        kwargs=json.dumps(dict(entry.pop("kwargs", None) or {})),
        queue=options.get("queue"),
        exchange=options.get("exchange"),
        routing_key=options.get("routing_key"),
        priority=options.get("priority"),
        headers=json.dumps(options.get("headers") or {}),
        expire_seconds=options.get("expire_seconds"),
    )
    fields.update(entry)  # any other key is a model field, as django-celery-beat passes it on
    return fields


def _differs(row: Any, fields: Mapping[str, Any]) -> bool:
    for key, value in fields.items():
        current = getattr(row, f"{key}_id" if key in ("interval", "crontab", "solar", "clocked")
                          else key)  # fmt: skip
        wanted = value.pk if hasattr(value, "pk") else value
        if key in ("args", "kwargs", "headers"):
            current, wanted = json.loads(current or "null"), json.loads(wanted or "null")
        if current != wanted:
            return True
    return False


def sync_beat_schedule(app: Any, spec: str) -> list[str]:
    """Write the app's entries into the table; the names written (unchanged ones are not)."""
    from django.db import IntegrityError, transaction
    from django_celery_beat.models import PeriodicTask

    entries = {**default_entries(app), **dict(app.conf.beat_schedule or {})}
    written: list[str] = []
    for name, raw in entries.items():
        where = f"the app's beat_schedule ({spec}) entry {name!r}"
        if not isinstance(raw, Mapping):
            raise SpecError(where, None, "an entry must be a mapping with task and schedule")
        try:
            fields = row_fields(app, name, raw)
        except (ValueError, TypeError) as exc:
            raise SpecError(where, "schedule", str(exc)) from None
        if not set(fields) <= {f.name for f in PeriodicTask._meta.get_fields()}:
            unknown = sorted(set(fields) - {f.name for f in PeriodicTask._meta.get_fields()})
            raise SpecError(where, unknown[0], "is not a column of django-celery-beat's table")
        for attempt in range(2):  # two replicas starting together: the loser retries once
            try:
                with transaction.atomic():
                    row = PeriodicTask.objects.filter(name=name).first()
                    if row is not None and not _differs(row, fields):
                        break
                    PeriodicTask.objects.update_or_create(name=name, defaults=fields)
                    written.append(name)
                    break
            except IntegrityError:
                if attempt:
                    raise
    if written:
        log.info("beat_schedule synced into django-celery-beat's table: %s", ", ".join(written))
    return written
