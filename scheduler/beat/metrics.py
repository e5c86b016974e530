"""The beat's Prometheus metrics and optional Sentry Crons check-ins."""

from __future__ import annotations

import itertools
import logging
import math
import threading
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from scheduler.beat.schedules import Cron, Every
from scheduler.beat.spec import Entry

log = logging.getLogger("shoal.beat")

LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class BatchHistogram(Collector):
    """A histogram fed a burst at a time (50,000 ticks may fire in one second): one lock per
    batch, not per value. Exposed as a Prometheus histogram."""

    def __init__(
        self, name: str, documentation: str, *, buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:  # fmt: skip
        self.name, self.documentation = name, documentation
        self.bounds = (*sorted(buckets), math.inf)
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: Sequence[float]) -> None:
        if not values:
            return
        counts = [0] * len(self.bounds)
        for value in values:
            counts[bisect_left(self.bounds, value)] += 1
        total = math.fsum(values)
        with self._lock:
            self.counts = [a + b for a, b in zip(self.counts, counts, strict=True)]
            self.sum += total

    def observe(self, value: float) -> None:
        self.observe_many([value])

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts, total = list(self.counts), self.sum
        cumulative = list(itertools.accumulate(counts))
        buckets = [(floatToGoString(b), c) for b, c in zip(self.bounds, cumulative, strict=True)]  # type: ignore[no-untyped-call]
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets,
                                    sum_value=total)  # fmt: skip


class BeatMetrics:
    """Labelled by ``source`` (file, app, database), not by entry: a database may hold
    100,000 rows. Which entry fired is in the log and in ``shoal:beat:entry:<name>``."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.fired = Counter(
            "shoal_beat_ticks_fired_total", "Ticks this replica published", ["source"],
            registry=registry,
        )  # fmt: skip
        self.refused = Counter(
            "shoal_beat_duplicate_ticks_refused_total",
            "Ticks this replica tried to fire that the fence refused (already claimed)",
            ["source"],
            registry=registry,
        )
        self.skipped = Counter(
            "shoal_beat_ticks_skipped_total",
            "Due ticks not fired: catch-up policy or past startingDeadlineSeconds",
            ["source"],
            registry=registry,
        )
        self.lateness = BatchHistogram(
            "shoal_beat_tick_lateness_seconds", "Publish time minus tick time",
            buckets=LATENESS_BUCKETS, registry=registry,
        )  # fmt: skip
        self.leader = Gauge(
            "shoal_beat_is_leader",
            "1 while this replica acts on ticks (holds the lease, or runs without one)",
            registry=registry,
        )
        self.entries = Gauge(
            "shoal_beat_entries", "Entries in force, from every source", registry=registry
        )
        self.reload_errors = Counter(
            "shoal_beat_reload_errors_total", "Reloads refused (bad file)", registry=registry
        )
        self.condition_errors = Counter(
            "shoal_beat_condition_errors_total", "`when` conditions that raised", ["entry"],
            registry=registry,
        )  # fmt: skip
        self.bad_rows = Gauge(
            "shoal_beat_rows_skipped", "Database rows skipped now (a bad field)", registry=registry
        )
        self.bad_rows_total = Counter(
            "shoal_beat_bad_rows_total",
            "Database rows found bad (each time a row is read with a bad field), by field",
            ["field"],
            registry=registry,
        )
        self.database_errors = Counter(
            "shoal_beat_database_errors_total",
            "Reads or writes of django-celery-beat's tables that failed (retried)",
            ["op"],
            registry=registry,
        )
        self.database_writes = Counter(
            "shoal_beat_database_runs_written_total",
            "Rows updated with their runs (last_run_at, total_run_count, one-offs disabled)",
            registry=registry,
        )


def monitor_config(entry: Entry) -> dict[str, Any] | None:
    """Sentry's monitor schedule for an entry, where Sentry can express it."""
    schedule = entry.schedule
    if isinstance(schedule, Cron):
        return {
            "schedule": {"type": "crontab", "value": schedule.expr.text},
            "timezone": schedule.timezone,
        }
    if isinstance(schedule, Every) and schedule.interval_s % 60 == 0:
        return {"schedule": {"type": "interval", "value": int(schedule.interval_s // 60),
                             "unit": "minute"}}  # fmt: skip
    return None


class SentryCrons:
    """Check-ins per fired tick when a DSN is configured; nothing at all otherwise."""

    def __init__(self, dsn: str | None) -> None:
        self.enabled = bool(dsn)
        if self.enabled:
            import sentry_sdk

            sentry_sdk.init(dsn=dsn, traces_sample_rate=0.0)

    def fired(self, entry: Entry) -> None:
        if not self.enabled:
            return
        from sentry_sdk.crons import capture_checkin

        try:
            capture_checkin(
                monitor_slug=entry.name,
                status="ok",
                monitor_config=monitor_config(entry),  # type: ignore[arg-type]
            )
        except Exception:  # a monitoring outage must not stop the beat
            log.exception("sentry check-in failed for %s", entry.name)
