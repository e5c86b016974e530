"""The runner on a real Redis with an injected clock: DST nights walked in 5-minute passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import redis
from prometheus_client import CollectorRegistry

from scheduler.beat.metrics import BeatMetrics
from scheduler.beat.runner import Beat
from scheduler.beat.settings import BeatSettings
from tests.integration.beat.support import published, write_schedules

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
