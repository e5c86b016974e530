"""The beat's Prometheus metrics and optional Sentry Crons check-ins."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from scheduler.beat.schedules import Cron, Every
from scheduler.beat.spec import Entry

log = logging.getLogger("shoal.beat")

LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class BeatMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.fired = Counter(
            "shoal_beat_ticks_fired_total", "Ticks this replica published", ["entry"],
            registry=registry,
        )  # fmt: skip
        self.refused = Counter(
            "shoal_beat_duplicate_ticks_refused_total",
            "Ticks this replica tried to fire that the fence refused (already claimed)",
            ["entry"],
            registry=registry,
        )
        self.skipped = Counter(
            "shoal_beat_ticks_skipped_total",
            "Due ticks not fired: catch-up policy or past startingDeadlineSeconds",
            ["entry"],
            registry=registry,
        )
        self.lateness = Histogram(
            "shoal_beat_tick_lateness_seconds", "Publish time minus tick time",
            buckets=LATENESS_BUCKETS, registry=registry,
        )  # fmt: skip
        self.leader = Gauge(
            "shoal_beat_is_leader",
            "1 while this replica acts on ticks (holds the lease, or runs without one)",
            registry=registry,
        )
        self.entries = Gauge(
            "shoal_beat_entries", "Entries in the loaded schedules file", registry=registry
        )
        self.reload_errors = Counter(
            "shoal_beat_reload_errors_total", "Reloads refused (bad file)", registry=registry
        )
        self.condition_errors = Counter(
            "shoal_beat_condition_errors_total", "`when` conditions that raised", ["entry"],
            registry=registry,
        )  # fmt: skip


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
