"""Reading django-celery-beat's tables: plain SQL through Django's connection, no models.

Raw rows, because a row must not stop the others: a model instance of a row with an unknown
time zone raises while it is read. Table and column names come from django-celery-beat's
models, so a project's database router and table names are respected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.beat.sources.db_rows import ScheduleRows, TaskRow

TASK_FIELDS = (
    "id", "name", "task", "interval", "crontab", "solar", "clocked", "args", "kwargs", "queue",
    "exchange", "routing_key", "headers", "priority", "expires", "expire_seconds", "one_off",
    "start_time", "enabled", "last_run_at", "total_run_count", "date_changed",
)  # fmt: skip
SCHEDULE_FIELDS = {
    "interval": ("every", "period"),
    "crontab": ("minute", "hour", "day_of_week", "day_of_month", "month_of_year", "timezone"),
    "solar": ("event", "latitude", "longitude"),
    "clocked": ("clocked_time",),
}
IN_CHUNK = 500
DATETIME_COLUMNS = {14, 17, 19, 21}
"""Positions of expires, start_time, last_run_at and date_changed in a task row."""


class DatabaseReader:
    def __init__(self) -> None:
        from django.conf import settings
        from django.db import router
        from django_celery_beat import models

        self.models = models
        self.alias = router.db_for_read(models.PeriodicTask)
        naive_zone = "UTC" if getattr(settings, "USE_TZ", True) else settings.TIME_ZONE
        self.naive_tz = ZoneInfo(naive_zone or "UTC")
        quote = self.connection().ops.quote_name
        meta = models.PeriodicTask._meta
        self.task_table = quote(meta.db_table)
        self.task_columns = ", ".join(quote(meta.get_field(f).column) for f in TASK_FIELDS)
        self.column = {f: quote(meta.get_field(f).column) for f in TASK_FIELDS}
        self.schedule_sql = {
            kind: "SELECT {} FROM {}".format(
                ", ".join(quote(model._meta.get_field(f).column) for f in ("id", *fields)),
                quote(model._meta.db_table),
            )
            for kind, fields, model in (
                ("interval", SCHEDULE_FIELDS["interval"], models.IntervalSchedule),
                ("crontab", SCHEDULE_FIELDS["crontab"], models.CrontabSchedule),
                ("solar", SCHEDULE_FIELDS["solar"], models.SolarSchedule),
                ("clocked", SCHEDULE_FIELDS["clocked"], models.ClockedSchedule),
            )
        }
        changes = models.PeriodicTasks._meta
        self.marker_sql = "SELECT {} FROM {} WHERE {} = 1".format(
            quote(changes.get_field("last_update").column),
            quote(changes.db_table),
            quote(changes.get_field("ident").column),
        )

    def connection(self) -> Any:
        from django.db import connections

        return connections[self.alias]

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.connection().cursor() as cursor:
            cursor.execute(sql, params)
            rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows

    def aware(self, value: Any) -> datetime | None:
        """A datetime column as an aware UTC instant (sqlite may hand back text)."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.naive_tz)
        return value.astimezone(UTC)  # type: ignore[no-any-return]

    def marker(self) -> datetime | None:
        """``PeriodicTasks.last_update``: django-celery-beat's change marker."""
        rows = self._rows(self.marker_sql)
        return self.aware(rows[0][0]) if rows else None

    def schedules(self) -> ScheduleRows:
        tables: dict[str, dict[int, tuple[Any, ...]]] = {}
        for kind, sql in self.schedule_sql.items():
            rows = self._rows(sql)
            if kind == "clocked":
                tables[kind] = {r[0]: (self.aware(r[1]),) for r in rows}
            else:
                tables[kind] = {r[0]: tuple(r[1:]) for r in rows}
        return ScheduleRows(**tables)

    def _task(self, raw: tuple[Any, ...]) -> TaskRow:
        values = list(raw)
        for i in DATETIME_COLUMNS:
            values[i] = self.aware(values[i])
        values[16], values[18] = bool(values[16]), bool(values[18])
        return TaskRow(*values)

    def tasks(self, where: str = "", params: Sequence[Any] = ()) -> list[TaskRow]:
        sql = f"SELECT {self.task_columns} FROM {self.task_table}"
        if where:
            sql += f" WHERE {where}"
        sql += f" ORDER BY {self.column['id']}"
        return [self._task(raw) for raw in self._rows(sql, params)]

    def changed_since(self, since: datetime) -> list[TaskRow]:
        adapted = self.connection().ops.adapt_datetimefield_value(since)
        return self.tasks(f"{self.column['date_changed']} >= %s", [adapted])

    def using_schedules(self, kind: str, ids: Iterable[int]) -> list[TaskRow]:
        """The rows that use any of these schedule rows."""
        wanted = sorted(ids)
        rows: list[TaskRow] = []
        for start in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[start : start + IN_CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            rows += self.tasks(f"{self.column[kind]} IN ({marks})", chunk)
        return rows

    def count(self) -> int:
        return int(self._rows(f"SELECT COUNT(*) FROM {self.task_table}")[0][0])

    def ids(self) -> set[int]:
        return {r[0] for r in self._rows(f"SELECT {self.column['id']} FROM {self.task_table}")}
