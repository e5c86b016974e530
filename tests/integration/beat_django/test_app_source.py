"""The example Django project on sqlite: its beat_schedule (the daily 15:00 email in
Europe/Berlin, routed to ``emails``), read directly or through django-celery-beat's table."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import redis

from tests.integration.beat.support import published, write_schedules
from tests.support.django_project import PLAIN_SCHEDULER, orm
from tests.support.procs import shoal_argv
from tests.support.tools import ROOT

BERLIN = ZoneInfo("Europe/Berlin")
WALK_FROM = "2027-03-26T00:00:00+00:00"  # the spring-forward night is 28 March 2027


def walk(env: dict[str, str], *options: str, days: int = 5) -> subprocess.CompletedProcess[str]:
    """The beat on a clock walking ``days`` days in 10-minute passes."""
    argv = [sys.executable, "-m", "tests.support.beat_walk", WALK_FROM, "600",
            str(days * 144), *options]  # fmt: skip
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.timeout(400)
@pytest.mark.parametrize("scheduler", [PLAIN_SCHEDULER, None], ids=["beat_schedule", "table"])
def test_the_daily_email_fires_at_15_berlin_time_across_the_dst_change(
    sqlite_env: dict[str, str], redis_client: redis.Redis, scheduler: str | None
) -> None:
    env = dict(sqlite_env)
    if scheduler:
        env["CELERY_BEAT_SCHEDULER"] = scheduler
    done = walk(env, "--app", "proj")
    assert done.returncode == 0, done.stderr[-3000:]
    start_ms = datetime.fromisoformat(WALK_FROM).timestamp() * 1000
    fired = [
        datetime.fromtimestamp(m.tick_ms / 1000, UTC).astimezone(BERLIN).isoformat()
        for m in published(redis_client, "emails")
        if m.tick_ms >= start_ms  # the table's row catches up once from when it was saved
    ]
    assert fired == [
        "2027-03-26T15:00:00+01:00", "2027-03-27T15:00:00+01:00",
        "2027-03-28T15:00:00+02:00", "2027-03-29T15:00:00+02:00", "2027-03-30T15:00:00+02:00",
    ]  # fmt: skip
    assert {m.task for m in published(redis_client, "emails")} == {"orders.tasks.send_daily_email"}
    if scheduler is None:  # runs written back, as django-celery-beat does
        count = orm(env, "result = PeriodicTask.objects.get(name='daily-email').total_run_count")
        assert count == len(published(redis_client, "emails"))


def check(env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    argv = shoal_argv("beat", "--check", *options, "--next", "2",
                      "--from", "2027-03-27T12:00:00+00:00")  # fmt: skip
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_lists_the_file_and_the_apps_entries_in_their_zones(
    sqlite_env: dict[str, str], tmp_path: object
) -> None:
    path = f"{tmp_path}/schedules.yaml"
    write_schedules(__import__("pathlib").Path(path), """
schedules:
  - name: nightly-report
    task: reports.build
    cron: "30 2 * * *"
    timezone: America/New_York
""")  # fmt: skip
    env = dict(sqlite_env, CELERY_BEAT_SCHEDULER=PLAIN_SCHEDULER)
    done = check(env, path, "--app", "proj")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "nightly-report: cron task reports.build on celery",
        "  2027-03-28T02:30:00-04:00",
        "  2027-03-29T02:30:00-04:00",
        "daily-email: cron task orders.tasks.send_daily_email on emails [the app's beat_schedule]",
        "  2027-03-27T15:00:00+01:00",
        "  2027-03-28T15:00:00+02:00",
        "ok: 2 entries",
    ]


def test_a_name_in_the_file_and_in_the_app_stops_the_beat_naming_both(
    sqlite_env: dict[str, str], tmp_path: object
) -> None:
    from pathlib import Path

    path = Path(f"{tmp_path}/schedules.yaml")
    write_schedules(path, "schedules: [{name: daily-email, task: t, every: 1m}]")
    env = dict(sqlite_env, CELERY_BEAT_SCHEDULER=PLAIN_SCHEDULER)
    done = check(env, str(path), "--app", "proj")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "shoal beat: the app's beat_schedule (proj) entry 'daily-email'.name: "
        f"is also {path} entry 'daily-email'"
    )


def test_an_app_that_does_not_load_stops_the_beat_with_one_line(
    sqlite_env: dict[str, str],
) -> None:
    done = check(sqlite_env, "--app", "proj.nowhere")
    assert done.returncode == 2
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("shoal beat: --app 'proj.nowhere': "), lines
