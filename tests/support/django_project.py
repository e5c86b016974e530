"""The example Django project run as a team runs it: its own processes, its own database.

``orm(env, code)`` runs a snippet in a fresh Python process with the project's Django set up
(what the Django admin's save does, signals included) and returns the JSON of ``result``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.tools import ROOT

EXAMPLE = ROOT / "examples" / "django_project"
PLAIN_SCHEDULER = "celery.beat:PersistentScheduler"
DB_TABLES = (
    "django_celery_beat_periodictask", "django_celery_beat_intervalschedule",
    "django_celery_beat_crontabschedule", "django_celery_beat_solarschedule",
    "django_celery_beat_clockedschedule", "django_celery_beat_periodictasks",
)  # fmt: skip
PRELUDE = """
import json, django
from datetime import datetime, timedelta, timezone
django.setup()
from django.db import connection
from django_celery_beat.models import (PeriodicTask, PeriodicTasks, IntervalSchedule,
    CrontabSchedule, SolarSchedule, ClockedSchedule)
now = datetime.now(timezone.utc)
result = None
"""


def project_env(
    base: dict[str, str],
    redis_url: str,
    *,
    sqlite: Path | None = None,
    database_url: str | None = None,
    scheduler: str | None = None,
) -> dict[str, str]:
    """The environment of the team's processes: its settings module, broker and database."""
    dropped = ("DATABASE_URL", "EXAMPLE_SQLITE_PATH", "PROMETHEUS_MULTIPROC_DIR")
    env = {k: v for k, v in base.items() if k not in dropped}
    env.update(
        PYTHONPATH=f"{ROOT}:{EXAMPLE}",
        DJANGO_SETTINGS_MODULE="proj.settings",
        CELERY_BROKER_URL=redis_url,
        CELERY_RESULT_BACKEND=redis_url,
        SHOAL_REDIS_URL=redis_url,
    )
    if sqlite is not None:
        env["EXAMPLE_SQLITE_PATH"] = str(sqlite)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    if scheduler is not None:
        env["CELERY_BEAT_SCHEDULER"] = scheduler
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=EXAMPLE, env=env, check=True, capture_output=True, timeout=180,
    )  # fmt: skip


def orm(env: dict[str, str], code: str) -> Any:
    """Run ``code`` with the project's Django set up; the JSON of its ``result``."""
    script = PRELUDE + code + "\nprint('RESULT=' + json.dumps(result, default=str))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=EXAMPLE, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"orm snippet failed:\n{code}\n{done.stderr[-3000:]}")
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("RESULT=")]
    return json.loads(line[len("RESULT=") :])
