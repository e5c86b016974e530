"""The runner on a real Redis with an injected clock: DST nights walked in 5-minute passes,
and the log of a stopped beat."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
from prometheus_client import CollectorRegistry

from scheduler.beat.metrics import BeatMetrics
from scheduler.beat.runner import Beat
from scheduler.beat.settings import BeatSettings
from tests.integration.beat.support import published, write_schedules
from tests.support.procs import wait_for

BERLIN = ZoneInfo("Europe/Berlin")


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def walk(
    tmp_path: Path, client: redis.Redis, schedules: str, start: datetime, hours: int
) -> list[str]:
    """Run one pass every 5 minutes of fake time; return the fired ticks in Berlin time."""
    path = tmp_path / "schedules.yaml"
    write_schedules(path, schedules)
    clock = FakeClock(start.astimezone(UTC))  # UTC: aware + timedelta is wall-clock arithmetic
    beat = Beat(
        BeatSettings(schedules_path=path, leader_lease=False, metrics_port=0),
        client,
        metrics=BeatMetrics(CollectorRegistry()),
        clock=clock,
    )
    end = clock.now + timedelta(hours=hours)
    while clock.now < end:
        beat.fire_due(clock.now)
        clock.now += timedelta(minutes=5)
    return [
        datetime.fromtimestamp(m.tick_ms / 1000, UTC).astimezone(BERLIN).strftime("%m-%d %H:%M%z")
        for m in published(client, "dst")
    ]


CRON = """
schedules:
  - name: nightly
    task: shoal.noop
    queue: dst
    cron: "{cron}"
    timezone: Europe/Berlin
    catchUp: latest
"""


def test_spring_forward_night_fires_the_skipped_time_once_after_the_gap(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    start = datetime(2026, 3, 28, 22, 0, tzinfo=BERLIN)
    fired = walk(tmp_path, redis_client, CRON.format(cron="30 2 * * *"), start, hours=30)
    assert fired == ["03-29 03:00+0200", "03-30 02:30+0200"]


def test_fall_back_night_fires_the_repeated_time_once(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    start = datetime(2026, 10, 24, 22, 0, tzinfo=BERLIN)
    fired = walk(tmp_path, redis_client, CRON.format(cron="30 2 * * *"), start, hours=31)
    assert fired == ["10-25 02:30+0200", "10-26 02:30+0100"]


def test_hourly_wildcard_entry_fires_both_passes_of_the_repeated_hour(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    start = datetime(2026, 10, 25, 0, 0, tzinfo=BERLIN)
    fired = walk(tmp_path, redis_client, CRON.format(cron="30 * * * *"), start, hours=5)
    assert fired == [
        "10-25 00:30+0200", "10-25 01:30+0200", "10-25 02:30+0200",
        "10-25 02:30+0100", "10-25 03:30+0100",
    ]  # fmt: skip


def test_a_new_entry_starts_at_its_next_tick_not_before(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    start = datetime(2026, 6, 1, 15, 2, tzinfo=BERLIN)  # two minutes after 15:00
    fired = walk(tmp_path, redis_client, CRON.format(cron="0 15 * * *"), start, hours=25)
    assert fired == ["06-02 15:00+0200"]


def test_a_stopped_beat_logs_the_summary_of_its_last_quiet_passes(
    tmp_path: Path, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Ticks of a big pass are summed up once a minute; what fired since the last summary is
    logged when the beat stops, so the log accounts for every tick the replica fired."""
    path = tmp_path / "schedules.yaml"
    entries = "".join(
        f"  - {{name: e{i}, task: shoal.noop, queue: quiet, every: 1m}}\n" for i in range(12)
    )
    write_schedules(path, "schedules:\n" + entries)
    clock = FakeClock(datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC))
    beat = Beat(
        BeatSettings(schedules_path=path, leader_lease=False, metrics_port=0),
        redis_client,
        metrics=BeatMetrics(CollectorRegistry()),
        clock=clock,
    )
    beat.fire_due(clock.now)  # every entry anchored at 12:00:30, nothing due yet
    clock.now += timedelta(minutes=1)  # all twelve due at 12:01:00: one pass of 12 (> 10)
    caplog.set_level(logging.INFO, logger="shoal.beat")
    runner = threading.Thread(target=beat.run)
    runner.start()
    try:
        wait_for(lambda: len(published(redis_client, "quiet")) >= 12, timeout_s=30,
                 message="12 ticks published")  # fmt: skip
    finally:
        beat.stop()
        runner.join(30)
    assert not runner.is_alive()
    summaries = [r.getMessage() for r in caplog.records if "ticks in the last" in r.getMessage()]
    assert len(summaries) == 1 and summaries[0].startswith("fired 12 ticks in the last"), summaries
    assert len(published(redis_client, "quiet")) == 12
