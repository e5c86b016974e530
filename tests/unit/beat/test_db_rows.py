"""django-celery-beat's rows as entries: each column's meaning, and bad rows named by field.

Pure: rows are built by hand as the tables hold them; a plain Celery app gives the routes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery import Celery

from scheduler.beat.schedules import At, Cron, Every, Solar, Window, next_fire
from scheduler.beat.solar import SolarEvent
from scheduler.beat.sources.db_rows import BadRow, ScheduleRows, TaskRow, parse_row

SAVED = datetime(2026, 3, 1, 9, 30, 15, tzinfo=UTC)
SCHEDULES = ScheduleRows(
    interval={1: (1, "minutes"), 2: (0, "seconds"), 3: (2, "fortnights"), 4: (90, "seconds")},
    crontab={
        1: ("0", "15", "*", "*", "*", "Europe/Berlin"),
        2: ("61", "*", "*", "*", "*", "UTC"),
        3: ("0", "4", "*", "*", "*", "Mars/Olympus_Mons"),
        4: ("*/15", "9-17", "mon-fri", "*", "*", "America/New_York"),
        5: ("0", "0", "*", "30", "2", "UTC"),
    },
    solar={1: ("sunset", "52.520000", "13.405000"), 2: ("moonrise", "0", "0")},
    clocked={1: (datetime(2026, 3, 1, 10, 0, tzinfo=UTC),)},
)


def row(**over: Any) -> TaskRow:
    base: dict[str, Any] = dict(
        id=7, name="nightly", task="orders.tasks.send_daily_email", interval_id=None,
        crontab_id=1, solar_id=None, clocked_id=None, args="[]", kwargs="{}", queue=None,
        exchange=None, routing_key=None, headers="{}", priority=None, expires=None,
        expire_seconds=None, one_off=False, start_time=None, enabled=True, last_run_at=None,
        total_run_count=0, date_changed=SAVED,
    )  # fmt: skip
    base.update(over)
    return TaskRow(**base)


@pytest.fixture(scope="module")
def app() -> Celery:
    app = Celery("team", set_as_current=False)
    app.conf.timezone = "Europe/Berlin"
    app.conf.task_routes = {"orders.tasks.send_daily_email": {"queue": "emails"}}

    @app.task(name="orders.tasks.touch")
    def touch(reference: str) -> None:
        return None

    return app


def parse(app: Celery, **over: Any):  # type: ignore[no-untyped-def]
    return parse_row(row(**over), SCHEDULES, app=app, app_zone="Europe/Berlin")


def test_a_crontab_row_is_read_in_its_own_zone_and_routed_by_the_app(app: Celery) -> None:
    entry = parse(app)
    assert isinstance(entry.schedule, Cron) and entry.schedule.timezone == "Europe/Berlin"
    summer = next_fire(entry.schedule, datetime(2026, 6, 1, tzinfo=UTC))
    assert summer == datetime(2026, 6, 1, 13, 0, tzinfo=UTC)  # 15:00 CEST
    (sig,) = entry.signatures
    assert sig.queue == "emails"
    assert sig.options["headers"] == {"periodic_task_name": "nightly", "celery_beat_task": True}
    assert (entry.source, entry.row_id, entry.where) == ("database", 7, "database row 7 'nightly'")
    assert (entry.baseline, entry.baseline_raises) == (SAVED, True)


def test_celery_crontab_days_must_both_match() -> None:
    app = Celery("t", set_as_current=False)
    entry = parse_row(row(crontab_id=4), SCHEDULES, app=app, app_zone="UTC")
    assert isinstance(entry.schedule, Cron)
    saturday = datetime(2026, 6, 6, tzinfo=UTC)
    first = next_fire(entry.schedule, saturday)
    assert first == datetime(2026, 6, 8, 13, 0, tzinfo=UTC)  # Monday 09:00 in New York


def test_an_interval_counts_from_start_time_else_from_the_save(app: Celery) -> None:
    entry = parse(app, crontab_id=None, interval_id=4)
    assert entry.schedule == Every(90.0, SAVED)
    start = datetime(2026, 3, 2, 0, 0, 5, tzinfo=UTC)
    entry = parse(app, crontab_id=None, interval_id=4, start_time=start)
    assert entry.schedule == Every(90.0, start)
    assert entry.window == Window(start, None)
    assert entry.baseline is not None and entry.baseline < start  # django-celery-beat: long ago


def test_last_run_at_is_where_catch_up_starts(app: Celery) -> None:
    ran = SAVED + timedelta(days=3)
    entry = parse(app, last_run_at=ran, total_run_count=4)
    assert (entry.baseline, entry.baseline_raises) == (ran, False)


def test_solar_and_its_event_names(app: Celery) -> None:
    entry = parse(app, crontab_id=None, solar_id=1)
    assert entry.schedule == Solar(SolarEvent.SUNSET, 52.52, 13.405)


def test_a_clocked_row_is_one_run_at_its_time_or_at_once_when_saved_late(app: Celery) -> None:
    early = parse(app, crontab_id=None, clocked_id=1, one_off=True,
                  date_changed=datetime(2026, 3, 1, 8, 0, tzinfo=UTC))  # fmt: skip
    assert early.schedule == At(datetime(2026, 3, 1, 10, 0, tzinfo=UTC)) and early.one_off
    late = parse(app, crontab_id=None, clocked_id=1, one_off=True,
                 date_changed=datetime(2026, 3, 1, 10, 5, tzinfo=UTC))  # fmt: skip
    assert late.schedule == At(datetime(2026, 3, 1, 10, 5, tzinfo=UTC))


def test_a_one_off_crontab_is_its_first_tick_only(app: Celery) -> None:
    entry = parse(app, one_off=True)
    assert entry.schedule == At(datetime(2026, 3, 1, 14, 0, tzinfo=UTC))  # 15:00 CET
    assert entry.one_off and entry.kind == "at"


def test_expires_ends_the_ticks_and_the_messages(app: Celery) -> None:
    end = datetime(2026, 4, 1, tzinfo=UTC)
    entry = parse(app, expires=end)
    assert entry.window == Window(None, end) and entry.expires_at == end
    entry = parse(app, expire_seconds=3600)
    assert entry.expires_s == 3600.0 and entry.expires_at is None


def test_options_and_json_columns(app: Celery) -> None:
    entry = parse(app, args='[1, "a"]', kwargs='{"k": [2]}', queue="reports", priority=7,
                  headers='{"team": "ops"}')  # fmt: skip
    (sig,) = entry.signatures
    assert (sig.args, dict(sig.kwargs), sig.queue, sig.priority) == ((1, "a"), {"k": [2]},
                                                                      "reports", 7)  # fmt: skip
    assert sig.options["headers"]["team"] == "ops"
    assert sig.options["argsrepr"] == "[1, 'a']"


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"crontab_id": 2}, "crontab.minute"),
        ({"crontab_id": 3}, "crontab.timezone"),
        ({"crontab_id": 5}, "crontab"),  # 30 February
        ({"args": "not json"}, "args"),
        ({"args": '{"a": 1}'}, "args"),
        ({"kwargs": "[1]"}, "kwargs"),
        ({"headers": "{"}, "headers"),
        ({"crontab_id": None, "interval_id": 2}, "interval.every"),
        ({"crontab_id": None, "interval_id": 3}, "interval.period"),
        ({"crontab_id": None, "solar_id": 2}, "solar.event"),
        ({"interval_id": 1}, "schedule"),
        ({"crontab_id": None}, "schedule"),
        ({"crontab_id": 99}, "crontab"),
        ({"priority": 300}, "priority"),
        ({"exchange": "ex", "routing_key": "rk"}, "exchange"),
        ({"name": ""}, "name"),
        ({"task": "orders.tasks.touch", "kwargs": '{"k": 1}'}, "args"),  # Celery would refuse
    ],
)
def test_a_bad_row_names_its_id_name_and_field(
    app: Celery, over: dict[str, Any], field: str
) -> None:
    with pytest.raises(BadRow) as caught:
        parse(app, **over)
    assert (caught.value.row_id, caught.value.field) == (7, field)
    assert str(caught.value).startswith(f"database row 7 {row(**over).name!r}.{field}: ")
    assert "\n" not in str(caught.value)


def test_definition_leaves_out_the_run_state() -> None:
    ran = row(last_run_at=SAVED, total_run_count=9)
    assert ran.definition() == row().definition()
    assert row(queue="x").definition() != row().definition()
    assert json.dumps([str(v) for v in row().definition()])  # hashable, printable values
