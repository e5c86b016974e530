"""django-celery-beat's tables on a real PostgreSQL, as a Django team keeps its schedules.

Real `shoal beat --app proj` replicas of the example project, rows written through the ORM
(signals and all, as the admin saves them), messages read back from Redis and rows from the
database. Every run is counted: exactly once per tick, and once in ``total_run_count``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.integration.beat.support import Published, log_text, published
from tests.integration.beat.test_app_messages import comparable
from tests.support.django_project import migrate, orm
from tests.support.ports import free_port
from tests.support.postgres_server import PostgresServer
from tests.support.procs import Proc, ProcessTracker, shoal_argv, wait_for
from tests.support.tools import ROOT

STOCK_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"


def beats(procs: ProcessTracker, env: dict[str, str], count: int, *extra: str) -> list[Proc]:
    return [
        procs.shoal("beat", "--app", "proj", "--metrics-port", "0", *extra, env=env, name=f"b{i}")
        for i in range(count)
    ]


def by_entry(messages: list[Published]) -> dict[str, list[Published]]:
    out: dict[str, list[Published]] = defaultdict(list)
    for m in messages:
        out[m.entry].append(m)
    return out


def at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@pytest.mark.timeout(240)
def test_two_replicas_publish_each_tick_once_and_count_every_run_in_the_table(
    procs: ProcessTracker, pg_env: dict[str, str], redis_client: redis.Redis
) -> None:
    orm(pg_env, """
every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period='seconds')
for i in range(12):
    PeriodicTask.objects.create(name=f'row-{i}', task='orders.tasks.touch',
        interval=every_second, args=json.dumps([f'r{i}']), queue='dbq')
""")  # fmt: skip
    replicas = beats(procs, pg_env, 2, "--no-leader-lease")  # both claim every tick
    wait_for(
        lambda: (
            all(len(v) >= 15 for v in by_entry(published(redis_client, "dbq")).values())
            and len(by_entry(published(redis_client, "dbq"))) == 12
        ),
        timeout_s=120,
        message="15 runs of each of 12 rows",
    )
    for beat in replicas:
        assert beat.stop() == 0, beat.output()[-2000:]  # SIGTERM: runs still queued are written
    rows = orm(pg_env, """
result = {t.name: [t.total_run_count, t.last_run_at.isoformat()]
          for t in PeriodicTask.objects.filter(name__startswith='row-')}
""")  # fmt: skip
    messages = by_entry(published(redis_client, "dbq"))
    for name, runs in messages.items():
        ticks = [m.tick_ms for m in runs]
        assert len(ticks) == len(set(ticks)), f"{name}: a tick was published twice"
        count, last_run_at = rows[name]
        assert count == len(runs), f"{name}: {count} runs counted, {len(runs)} published"
        assert at(last_run_at) == max(at(m.published_at) for m in runs)
    fired = [fired_in_log(log_text(b)) for b in replicas]
    assert all(n > 0 for n in fired), f"both replicas must have won ticks: {fired}"
    assert sum(fired) == sum(len(v) for v in messages.values())


def fired_in_log(text: str) -> int:
    """Ticks a replica says it fired: one line each, or one summary line for a busy pass."""
    summaries = re.findall(r"fired (\d+) ticks in the last", text)
    return text.count(": fired tick") + sum(int(n) for n in summaries)


def wait_runs(client: redis.Redis, queue: str, count: int, timeout_s: float = 30) -> None:
    wait_for(lambda: len(published(client, queue)) >= count, timeout_s=timeout_s,
             message=f"{count} runs on {queue}")  # fmt: skip


@pytest.mark.timeout(240)
def test_admin_edits_are_in_force_within_five_seconds_without_a_restart(
    procs: ProcessTracker, pg_env: dict[str, str], redis_client: redis.Redis
) -> None:
    ids = orm(pg_env, """
every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period='seconds')
slow = IntervalSchedule.objects.create(every=1, period='hours')
result = {
  'moved': PeriodicTask.objects.create(name='moved', task='orders.tasks.send_daily_email',
                                       interval=every_second, queue='q1').id,
  'stopped': PeriodicTask.objects.create(name='stopped', task='orders.tasks.send_daily_email',
                                         interval=every_second, queue='q3').id,
  'quickened': PeriodicTask.objects.create(name='quickened', task='orders.tasks.send_daily_email',
                                           interval=slow, queue='q4').id,
}
""")  # fmt: skip
    beats(procs, pg_env, 2)
    wait_runs(redis_client, "q1", 3)
    saved = orm(pg_env, """
moved = PeriodicTask.objects.get(name='moved'); moved.queue = 'q2'; moved.save()
stopped = PeriodicTask.objects.get(name='stopped'); stopped.enabled = False; stopped.save()
PeriodicTask.objects.create(name='added', task='orders.tasks.send_daily_email',
    interval=IntervalSchedule.objects.get(every=1, period='seconds'), queue='q5')
slow = PeriodicTask.objects.get(name='quickened').interval; slow.every = 2; slow.period = 'seconds'
slow.save()
result = datetime.now(timezone.utc).timestamp()
""")  # fmt: skip
    for queue in ("q2", "q4", "q5"):
        wait_runs(redis_client, queue, 2, timeout_s=20)
    time.sleep(3)
    for queue in ("q2", "q4", "q5"):  # in force within 5 s of the save
        first = min(at(m.published_at) for m in published(redis_client, queue))
        assert first - saved <= 5.0, f"{queue}: first run {first - saved:.1f}s after the save"
    for queue in ("q1", "q3"):  # the old definition ends within 5 s
        last = max(at(m.published_at) for m in published(redis_client, queue))
        assert last - saved <= 5.0, f"{queue}: still published {last - saved:.1f}s later"
    assert {m.entry for m in published(redis_client, "q2")} == {"moved"}
    assert ids["moved"] != ids["stopped"]


@pytest.mark.timeout(180)
def test_a_clocked_one_off_fires_once_across_two_replicas_and_is_disabled(
    procs: ProcessTracker, pg_env: dict[str, str], redis_client: redis.Redis
) -> None:
    clocked_ms = orm(pg_env, """
clock = ClockedSchedule.objects.create(clocked_time=now + timedelta(seconds=8))
PeriodicTask.objects.create(name='once', task='orders.tasks.touch', clocked=clock,
                            one_off=True, queue='onceq', args='["once"]')
result = int(clock.clocked_time.timestamp() * 1000)
""")  # fmt: skip
    replicas = beats(procs, pg_env, 2, "--no-leader-lease")
    wait_runs(redis_client, "onceq", 1, timeout_s=40)

    def row() -> Any:
        return orm(pg_env, """
t = PeriodicTask.objects.get(name='once')
result = [t.enabled, t.total_run_count, t.last_run_at]
""")  # fmt: skip

    wait_for(lambda: row()[0] is False, timeout_s=30, message="the one-off disabled")
    time.sleep(3)
    (run,) = published(redis_client, "onceq")
    assert (run.tick_ms, run.args) == (clocked_ms, ["once"])
    assert row() == [False, 0, None]  # as django-celery-beat leaves a one-off after its run
    assert sum(log_text(b).count("once: fired tick") for b in replicas) == 1


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def sample(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


@pytest.mark.timeout(180)
def test_bad_rows_are_skipped_named_counted_and_retried_when_they_change(
    procs: ProcessTracker, pg_env: dict[str, str], redis_client: redis.Redis
) -> None:
    ids = orm(pg_env, """
every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period='seconds')
PeriodicTask.objects.create(name='good', task='orders.tasks.send_daily_email',
                            interval=every_second, queue='goodq')
minute = CrontabSchedule.objects.create(minute='61', hour='*', timezone='UTC')
zone = CrontabSchedule.objects.create(minute='*', hour='*', timezone='UTC')
with connection.cursor() as cursor:  # a zone the tz database no longer knows
    cursor.execute('UPDATE django_celery_beat_crontabschedule SET timezone = %s WHERE id = %s',
                   ['Mars/Olympus_Mons', zone.id])
result = {
  'bad-minute': PeriodicTask.objects.create(name='bad-minute', task='orders.tasks.send_daily_email',
                                            crontab=minute).id,
  'bad-zone': PeriodicTask.objects.create(name='bad-zone', task='orders.tasks.send_daily_email',
                                          crontab=zone).id,
  'bad-args': PeriodicTask.objects.create(name='bad-args', task='orders.tasks.send_daily_email',
                                          interval=every_second, args='not json',
                                          queue='fixedq').id,
}
""")  # fmt: skip
    port = free_port()
    beat = procs.shoal("beat", "--app", "proj", "--metrics-port", str(port), env=pg_env,
                       name="beat")  # fmt: skip
    wait_runs(redis_client, "goodq", 3)
    text = log_text(beat)
    for name, field in (("bad-minute", "crontab.minute"), ("bad-zone", "crontab.timezone"),
                        ("bad-args", "args")):  # fmt: skip
        line = f"database row {ids[name]} '{name}'.{field}: "
        assert text.count(line) == 1, f"{line!r} not logged once in:\n{text[-3000:]}"
    metrics = scrape(port)
    assert sample(metrics, "shoal_beat_rows_skipped") == 3.0
    assert sample(metrics, 'shoal_beat_bad_rows_total{field="crontab"}') == 2.0
    assert sample(metrics, 'shoal_beat_bad_rows_total{field="args"}') == 1.0
    saved = orm(pg_env, """
t = PeriodicTask.objects.get(name='bad-args'); t.args = '[]'; t.save()
result = datetime.now(timezone.utc).timestamp()
""")  # fmt: skip
    wait_runs(redis_client, "fixedq", 1, timeout_s=15)
    first = min(at(m.published_at) for m in published(redis_client, "fixedq"))
    assert first - saved <= 5.0
    assert sample(scrape(port), "shoal_beat_rows_skipped") == 2.0
    wait_for(  # the good row never stopped
        lambda: any(at(m.published_at) > saved for m in published(redis_client, "goodq")),
        timeout_s=10,
        message="a run of the good row after the fix",
    )


@pytest.mark.timeout(240)
def test_a_row_is_published_as_the_stock_database_scheduler_publishes_it(
    procs: ProcessTracker, pg_env: dict[str, str], redis_client: redis.Redis
) -> None:
    orm(pg_env, """
every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period='seconds')
PeriodicTask.objects.create(name='compare', task='orders.tasks.touch', interval=every_second,
    args='[]', kwargs='{"reference": "x"}', queue='cmpq', priority=5, headers='{"team": "ops"}',
    expire_seconds=30)
""")  # fmt: skip
    lists = [b"cmpq\x06\x163"]  # priority 5 on the default steps

    def first_message() -> tuple[str, dict[str, Any], datetime]:
        """The list, the message, and when it was seen (within a poll of its publishing: each
        message's expiry is compared from its own publish time, not from one instant seconds
        after the stock beat's)."""
        wait_for(lambda: redis_client.llen(lists[0]) > 0, timeout_s=60, message="a message",
                 interval_s=0.02)  # fmt: skip
        seen = datetime.now().astimezone()
        import json

        raw = redis_client.rpop(lists[0])
        assert isinstance(raw, bytes)
        return lists[0].decode(), json.loads(raw), seen

    stock = procs.start(
        [sys.executable, "-m", "celery", "-A", "proj", "beat", "-S", STOCK_SCHEDULER,
         "--loglevel", "INFO"],
        env=pg_env, name="stock-beat",
    )  # fmt: skip
    stock_list, stock_msg, stock_seen = first_message()
    stock.stop()
    redis_client.flushall()
    beats(procs, pg_env, 1)
    ours_list, ours_msg, ours_seen = first_message()
    assert ours_list == stock_list
    assert comparable(ours_msg, ours_seen) == comparable(stock_msg, stock_seen)


def test_check_lists_every_source_in_its_own_zone_and_names_bad_rows(
    pg_env: dict[str, str],
) -> None:
    orm(pg_env, """
ny = CrontabSchedule.objects.create(minute='0', hour='9', day_of_week='mon-fri',
                                    timezone='America/New_York')
PeriodicTask.objects.create(name='ny-open', task='orders.tasks.touch', crontab=ny,
                            args='["ny"]')
clock = ClockedSchedule.objects.create(clocked_time=datetime(2027, 3, 30, 8, 0,
                                                             tzinfo=timezone.utc))
PeriodicTask.objects.create(name='launch', task='orders.tasks.touch', clocked=clock,
                            one_off=True, args='["go"]', queue='launches')
bad = CrontabSchedule.objects.create(minute='61', timezone='UTC')
PeriodicTask.objects.create(name='broken', task='orders.tasks.touch', crontab=bad)
""")  # fmt: skip
    argv = shoal_argv("beat", "--check", "--app", "proj", "--next", "2",
                      "--from", "2027-03-27T12:00:00+00:00")  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, env=pg_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr  # a bad row fails the check
    assert done.stdout.splitlines() == [
        "daily-email: cron task orders.tasks.send_daily_email on emails [the app's beat_schedule]",
        "  2027-03-27T15:00:00+01:00",
        "  2027-03-28T15:00:00+02:00",
        "ny-open: cron task orders.tasks.touch on celery [database row 1]",
        "  2027-03-29T09:00:00-04:00",
        "  2027-03-30T09:00:00-04:00",
        "launch: at task orders.tasks.touch on launches [database row 2, one-off]",
        "  2027-03-30T10:00:00+02:00",
        "  (no further fire times)",
        "bad: database row 3 'broken'.crontab.minute: '61': Invalid end range: 61 > 59.;"
        " skipped until the row changes",
        "3 entries, 1 bad",
    ]
    rows = orm(pg_env, "result = sorted(PeriodicTask.objects.values_list('name', flat=True))")
    assert rows == ["broken", "launch", "ny-open"]  # --check wrote nothing


@pytest.mark.timeout(180)
def test_a_beat_started_before_its_database_waits_for_it_without_crashing(
    procs: ProcessTracker, pg_env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    port = free_port()
    late = PostgresServer(tmp_path / "late-postgres", port=port)
    env = dict(pg_env, DATABASE_URL=late.url())
    (beat,) = beats(procs, env, 1)
    wait_for(lambda: log_text(beat).count("database 'default' unreachable") >= 2,
             timeout_s=30, message="the beat waiting for its database")  # fmt: skip
    assert beat.alive()
    late.start()
    try:
        migrate(env)
        orm(env, """
every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period='seconds')
PeriodicTask.objects.create(name='late', task='orders.tasks.send_daily_email',
                            interval=every_second, queue='lateq')
""")  # fmt: skip
        wait_runs(redis_client, "lateq", 2, timeout_s=60)
        assert "Traceback" not in log_text(beat)
    finally:
        beat.stop()
        late.stop()
