"""One beat replica: reload the file, hold (or skip) the lease, fire due ticks through the fence.

Each pass: (1) re-read the schedules file if it changed (a bad file keeps the last good one),
(2) renew or try the leader lease, (3) as leader, read every entry's state from Redis, ask the
pure :func:`due_ticks` what to fire, and claim each tick with the fencing script. Then sleep
until the next due tick, lease renewal or file check, whichever comes first.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import redis

from scheduler.beat import message
from scheduler.beat.fence import Fence, Outcome
from scheduler.beat.lease import Lease, NoLease
from scheduler.beat.metrics import BeatMetrics, SentryCrons
from scheduler.beat.schedules import When, due_ticks, next_fire, ticks_between
from scheduler.beat.settings import BeatSettings
from scheduler.beat.spec import Entry, ScheduleSet, SpecError, load_schedules

log = logging.getLogger("shoal.beat")
Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


class ScheduleSource:
    """The schedules file, re-read when its mtime, size or bytes change."""

    def __init__(self, path: Path, metrics: BeatMetrics) -> None:
        self.path = path
        self.metrics = metrics
        self._stamp = self._file_stamp()
        self.current: ScheduleSet = load_schedules(path)  # a bad file stops startup here
        self.last_error: str | None = None

    def _file_stamp(self) -> tuple[float, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def poll(self) -> bool:
        """Reload if the file changed; True when a new schedule set is in force."""
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            loaded = load_schedules(self.path)
        except SpecError as exc:
            self.metrics.reload_errors.inc()
            self.last_error = str(exc)
            log.error("schedules reload refused, keeping the last good file: %s", exc)
            return False
        if loaded.digest == self.current.digest:
            return False
        old, new = self.current.by_name(), loaded.by_name()
        added = sorted(set(new) - set(old))
        removed = sorted(set(old) - set(new))
        changed = sorted(n for n in set(old) & set(new) if old[n] != new[n])
        log.info("schedules reloaded: added=%s removed=%s changed=%s", added, removed, changed)
        self.current, self.last_error = loaded, None
        return True


def resolve_condition(path: str) -> Callable[[], object]:
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    func: Callable[[], object] = getattr(importlib.import_module(module_name), attr)
    return func


class Beat:
    def __init__(
        self,
        settings: BeatSettings,
        client: redis.Redis,
        *,
        metrics: BeatMetrics,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.metrics = metrics
        self.clock = clock or wall_clock
        self.source = ScheduleSource(settings.schedules_path, metrics)
        self.fence = Fence(client)
        self.lease: Lease | NoLease = (
            Lease(client, settings.replica_id, settings.lease_s)
            if settings.leader_lease
            else NoLease()
        )
        self.sentry = SentryCrons(settings.sentry_dsn)
        self.stop_event = threading.Event()
        self._next_lease_at = 0.0
        self._next_reload_at = 0.0
        self._leading = False
        self._next_due: dict[str, datetime] = {}

    # -- one pass ------------------------------------------------------------------------
    def step(self) -> float:
        """One pass of the loop; returns how long to sleep before the next."""
        mono = time.monotonic()
        if mono >= self._next_reload_at:
            self._next_reload_at = mono + self.settings.reload_interval_s
            if self.source.poll():
                self._next_due.clear()
        if mono >= self._next_lease_at:
            leading = self.lease.refresh()
            every = self.lease.renew_every_s if leading else self.lease.retry_every_s
            self._next_lease_at = mono + every
            if leading != self._leading:
                log.info("leader: %s (token %s)", leading, self.lease.token)
            self._leading = leading
            self.metrics.leader.set(1 if leading else 0)
        self.metrics.entries.set(len(self.source.current.entries))
        if self._leading:
            self.fire_due(self.clock())
        return self._sleep_s(time.monotonic())

    def _sleep_s(self, mono: float) -> float:
        waits = [self.settings.max_sleep_s, self._next_lease_at - mono, self._next_reload_at - mono]
        if self._leading and self._next_due:
            soonest = min(self._next_due.values())
            waits.append((soonest - self.clock()).total_seconds())
        return max(0.0, min(waits))

    def fire_due(self, now: datetime) -> None:
        entries = [e for e in self.source.current.entries if e.enabled]
        states = self.fence.states([e.name for e in entries])
        self._next_due = {}
        for entry in entries:
            last = states[entry.name].last_tick
            if last is None:
                self.fence.anchor(entry.name, now)
                last = now
            if isinstance(entry.schedule, When):
                self._check_condition(entry, last, now)
            else:
                self._fire_entry(entry, last, now)
            upcoming = next_fire(entry.schedule, max(now, last), entry.window)
            if upcoming is not None:
                self._next_due[entry.name] = upcoming

    def _fire_entry(self, entry: Entry, last: datetime, now: datetime) -> None:
        due = due_ticks(
            entry.schedule, last, now, entry.catch_up, entry.starting_deadline_s, entry.window
        )
        if not due.fire and not due.skipped:
            return
        newest_due = ticks_between(entry.schedule, last, now, entry.window)[-1]
        outcome = Outcome.DUPLICATE
        for tick in due.fire:
            outcome = self._claim(entry, tick, now, fire=True)
        if due.skipped:
            if not due.fire or due.fire[-1] < newest_due:
                outcome = self._claim(entry, newest_due, now, fire=False)
            if outcome is not Outcome.DUPLICATE:  # this replica decided the gap: count it once
                self.metrics.skipped.labels(entry.name).inc(due.skipped)
                log.info("%s: %s", entry.name, due.reason)

    def _check_condition(self, entry: Entry, last: datetime, now: datetime) -> None:
        assert isinstance(entry.schedule, When)
        checks = ticks_between(entry.schedule, last, now, entry.window)
        if not checks:
            return
        try:
            value = bool(resolve_condition(entry.schedule.condition)())
        except Exception:
            self.metrics.condition_errors.labels(entry.name).inc()
            log.exception("%s: condition %s raised", entry.name, entry.schedule.condition)
            return
        self._claim(entry, checks[-1], now, fire=True, mode="cond1" if value else "cond0")

    def _claim(
        self, entry: Entry, tick: datetime, now: datetime, *, fire: bool, mode: str = "fire"
    ) -> Outcome:
        published = self.clock()
        messages = message.build(entry, tick, published, self.settings.priorities) if fire else []
        outcome = self.fence.claim(
            entry.name,
            tick,
            now=published,
            next_due=next_fire(entry.schedule, max(now, tick), entry.window),
            messages=messages,
            mode=mode if fire else "skip",
            token=self.lease.token,
        )
        if outcome is Outcome.FIRED:
            lateness = (published - tick).total_seconds()
            self.metrics.fired.labels(entry.name).inc()
            self.metrics.lateness.observe(max(lateness, 0.0))
            self.sentry.fired(entry)
            log.info("%s: fired tick %s (%.3fs late)", entry.name, tick.isoformat(), lateness)
        elif outcome is Outcome.DUPLICATE:
            self.metrics.refused.labels(entry.name).inc()
        return outcome

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        log.info(
            "beat %s: %d entries, lease %s",
            self.settings.replica_id,
            len(self.source.current.entries),
            f"{self.settings.lease_s}s" if self.settings.leader_lease else "off",
        )
        try:
            while not self.stop_event.is_set():
                try:
                    delay = self.step()
                except redis.RedisError as exc:
                    log.warning("redis error, retrying: %s", exc)
                    self._leading = False
                    delay = 1.0
                self.stop_event.wait(delay)
        finally:
            with contextlib.suppress(redis.RedisError):
                self.lease.release()
            log.info("beat %s stopped", self.settings.replica_id)
