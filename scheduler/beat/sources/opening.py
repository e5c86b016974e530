"""Opening a beat's sources from its settings: the file, and the app with its scheduler.

``--app`` loads the team's app as ``celery -A`` does (:func:`contract.teamapp.load_app`, which
imports its task modules as ``celery beat`` does), so task-level options and routes apply. When
the app's ``beat_scheduler`` is django-celery-beat's ``DatabaseScheduler`` (or ``django``),
the tables are the source and the ``beat_schedule`` is synced into them; any other scheduler
is not used, and the log says so once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from scheduler.beat.metrics import BeatMetrics
from scheduler.beat.sources import Source
from scheduler.beat.sources.catalog import Catalog
from scheduler.beat.sources.file import FileSource
from scheduler.beat.spec import SpecError

log = logging.getLogger("shoal.beat")
STOCK_SCHEDULERS = ("celery.beat:PersistentScheduler", "celery.beat.PersistentScheduler")


def uses_database(app: Any) -> bool:
    """Whether the app's ``beat_scheduler`` is django-celery-beat's database scheduler."""
    scheduler = app.conf.beat_scheduler
    if not scheduler or scheduler in STOCK_SCHEDULERS:
        return False
    if scheduler == "django":
        return True
    try:
        from django_celery_beat.utils import is_database_scheduler
    except ImportError:
        return False
    try:
        return bool(is_database_scheduler(scheduler))
    except Exception:  # an import error of a scheduler this beat does not run
        return False


def load_team_app(spec: str, env: Mapping[str, str]) -> Any:
    """The app, its task modules imported by :func:`contract.teamapp.load_app` (``celery beat``
    does the same at start); a module that fails to import is one :class:`TeamAppError` line."""
    from contract.teamapp import load_app

    app = load_app(spec, env=env)
    serializer = app.conf.task_serializer
    if serializer != "json":
        log.warning("the app's task_serializer is %r; shoal beat publishes JSON", serializer)
    return app


def app_sources(app: Any, spec: str, metrics: BeatMetrics, *, check: bool) -> list[Source]:
    from scheduler.beat.sources.app import AppSource, app_zone

    zone_name = app_zone(app)
    if not uses_database(app):
        scheduler = app.conf.beat_scheduler
        if scheduler and scheduler not in STOCK_SCHEDULERS:
            log.warning("the app's beat_scheduler %r is not used: shoal beat reads the app's "
                        "beat_schedule and fences each tick in Redis", scheduler)  # fmt: skip
        return [AppSource(app, spec)]
    from scheduler.beat.sources.database import DatabaseSource
    from scheduler.beat.sources.db_sync import sync_beat_schedule

    wait_for_database(once=check)
    if check:  # read-only: the beat_schedule as it will be synced, beside the other rows
        names = frozenset(dict(app.conf.beat_schedule or {}))
        return [AppSource(app, spec), DatabaseSource(app, metrics, app_zone=zone_name,
                                                     overlaid=names)]  # fmt: skip
    sync_beat_schedule(app, spec)
    return [DatabaseSource(app, metrics, app_zone=zone_name)]


def wait_for_database(*, once: bool, sleep: Callable[[float], None] = time.sleep) -> None:
    """Until django-celery-beat's tables answer: one line per attempt, capped backoff (a
    database that is restarting, or not migrated yet, must not crash-loop the beat);
    ``once``: one try, one line."""
    from django.db import DatabaseError, ProgrammingError, connections, router
    from django_celery_beat.models import PeriodicTask

    alias = router.db_for_read(PeriodicTask)
    failures = 0
    while True:
        try:
            with connections[alias].cursor() as cursor:  # the tables, not only the server
                cursor.execute(f"SELECT 1 FROM {PeriodicTask._meta.db_table} WHERE 1 = 0")
            return
        except DatabaseError as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if isinstance(exc, ProgrammingError):
                reason += " (have django-celery-beat's migrations run?)"
            if once:
                raise SpecError(f"database {alias!r}", None, f"unreachable: {reason}") from None
            failures += 1
            wait_s = min(30.0, 0.5 * 2 ** min(failures - 1, 16))
            log.warning("django-celery-beat's database %r unreachable (try %d, next in %.1fs): %s",
                        alias, failures, wait_s, reason)  # fmt: skip
            connections[alias].close()
            sleep(wait_s)


def open_catalog(
    *,
    schedules_path: Path | None,
    app_spec: str | None,
    metrics: BeatMetrics,
    env: Mapping[str, str] | None = None,
    check: bool = False,
) -> Catalog:
    """The sources of one beat; raises ``SpecError`` (or the app loader's error), one line."""
    sources: list[Source] = []
    if schedules_path is not None:
        sources.append(FileSource(schedules_path, metrics))
    if app_spec:
        app = load_team_app(app_spec, os.environ if env is None else env)
        sources += app_sources(app, app_spec, metrics, check=check)
    return Catalog(sources)
