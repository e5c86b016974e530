"""An app's beat_schedule entry is published exactly as ``celery beat`` publishes it.

Celery's own ``celery.beat.Scheduler.apply_async`` (the code ``celery -A APP beat`` runs for
each due entry) publishes each entry to a real Redis; shoal builds its message for the same
entry; the two are compared field by field. Only what must differ may differ: the task id
(shoal derives it from the entry and the tick, so every replica agrees), the origin, the
delivery tag, ``reply_to``, the instants computed at publish time, and shoal's own headers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from celery import Celery
from celery.beat import ScheduleEntry, Scheduler
from celery.schedules import crontab

from contract.priority import priority_lists
from scheduler.beat import message
from scheduler.beat.sources.app import AppSource, parse_app_entry
from scheduler.beat.spec import Entry, SpecError
from tests.support.redis_server import RedisServer

SHOAL_HEADERS = {"published_at", "shoal_beat_entry", "shoal_beat_tick", "shoal_beat_tick_ms"}
PER_PUBLISH = {"id", "root_id", "origin"}
SCHEDULE: dict[str, dict[str, Any]] = {
    "daily-email": {  # routed by task_routes, as in the example project
        "task": "orders.tasks.send_daily_email",
        "schedule": crontab(hour=15, minute=0),
    },
    "report-with-options": {
        "task": "reports.build",
        "schedule": 300.0,
        "args": (1, "two"),
        "kwargs": {"to": ["ops"]},
        "options": {"queue": "reports", "priority": 7, "expires": 120, "headers": {"team": "x"}},
    },
    "registered-task": {  # the task's own options (queue, priority, expires, time limits)
        "task": "billing.close_day",
        "schedule": timedelta(hours=1),
    },
    "option-beats-route": {  # as in Celery, the entry's queue wins over a route
        "task": "orders.tasks.audit",
        "schedule": crontab(minute="*/15"),
        "options": {"queue": "ignored", "time_limit": 60, "soft_time_limit": 50},
    },
    "fixed-expiry": {
        "task": "reports.build",
        "schedule": crontab(minute=0, hour="*/2", day_of_week="mon-fri"),
        "options": {"expires": datetime(2031, 1, 1, 12, 0, tzinfo=UTC), "ignore_result": True},
    },
}


@pytest.fixture
def app(redis_server: RedisServer, redis_client: redis.Redis) -> Iterator[Celery]:
    app = Celery("team", broker=redis_server.url, set_as_current=False)
    app.conf.timezone = "Europe/Berlin"
    app.conf.task_routes = {"orders.tasks.*": {"queue": "emails"}}
    app.conf.beat_schedule = SCHEDULE

    @app.task(name="billing.close_day", queue="billing", priority=4, expires=60, time_limit=30,
              ignore_result=True)  # fmt: skip
    def close_day() -> None:
        return None

    try:
        yield app
    finally:
        app.close()


def celery_published(app: Celery, client: redis.Redis, name: str) -> tuple[str, dict[str, Any]]:
    """What ``celery beat`` LPUSHes for the entry: (list, message)."""
    scheduler = Scheduler(app, lazy=True)
    entry = ScheduleEntry(name=name, app=app, **SCHEDULE[name])
    scheduler.apply_async(entry)
    lists = [k for k in client.keys("*") if client.type(k) == b"list"]
    assert len(lists) == 1, lists
    raw = client.lpop(lists[0])
    assert isinstance(raw, bytes)
    return lists[0].decode(), json.loads(raw)


def comparable(msg: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A message without what differs per publish; the publish-time instants as offsets."""
    out = json.loads(json.dumps(msg))
    out["body"] = json.loads(base64.b64decode(out["body"]))
    headers, props = out["headers"], out["properties"]
    for key in PER_PUBLISH | SHOAL_HEADERS:
        headers.pop(key, None)
    for key in ("correlation_id", "delivery_tag", "reply_to"):
        props.pop(key)
    if headers["expires"]:
        left = datetime.fromisoformat(headers["expires"]) - now
        headers["expires"] = round(left.total_seconds() / 5) * 5  # computed at publish
        props["expiration"] = round(int(props["expiration"]) / 5000) * 5
    return out


@pytest.mark.parametrize("name", sorted(SCHEDULE))
def test_the_message_is_the_one_celery_beat_publishes(
    app: Celery, redis_client: redis.Redis, name: str
) -> None:
    entry = parse_app_entry(app, name, SCHEDULE[name], where=name, zone_name="Europe/Berlin")
    now = datetime.now(UTC)
    stock_list, stock = celery_published(app, redis_client, name)
    (ours,) = message.build(entry, now.replace(microsecond=0), now)
    assert ours.list_name == stock_list
    assert comparable(json.loads(ours.payload), now) == comparable(stock, now)


def test_the_schedules_are_read_in_the_apps_zone(app: Celery) -> None:
    entries = {e.name: e for e in AppSource(app, "team").load()}
    daily = entries["daily-email"]
    assert daily.timezone == "Europe/Berlin" and daily.kind == "cron"
    assert daily.signatures[0].queue == "emails"
    summer = daily.schedule.expr  # type: ignore[union-attr]
    assert (summer.hours, summer.minutes) == (frozenset({15}), frozenset({0}))
    assert entries["report-with-options"].schedule.interval_s == 300.0  # type: ignore[union-attr]
    assert entries["registered-task"].signatures[0].queue == "billing"


def test_messages_land_on_the_routed_queues_priority_list(app: Celery) -> None:
    entry: Entry = parse_app_entry(
        app, "r", SCHEDULE["report-with-options"], where="r", zone_name="UTC"
    )
    (out,) = message.build(entry, datetime(2026, 6, 1, tzinfo=UTC), datetime.now(UTC))
    assert out.list_name == priority_lists("reports")[2]  # priority 7: the step 6 list


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"task": "t", "schedule": object()}, "schedule"),
        ({"task": "t", "schedule": 10, "options": {"countdown": 5}}, "options.countdown"),
        ({"task": "t", "schedule": 10, "options": {"serializer": "pickle"}}, "options.serializer"),
        ({"task": "t", "schedule": 10, "args": [object()]}, "options.args"),
        ({"task": "t", "schedule": 10, "stray": 1}, "stray"),
        ({"schedule": 10}, "task"),
    ],
)
def test_what_cannot_be_kept_stops_the_start_with_one_line(
    app: Celery, raw: dict[str, Any], field: str
) -> None:
    with pytest.raises(SpecError) as caught:
        parse_app_entry(app, "bad", raw, where="the app's beat_schedule entry 'bad'",
                        zone_name="UTC")  # fmt: skip
    assert caught.value.field == field
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"the app's beat_schedule entry 'bad'.{field}: ")
