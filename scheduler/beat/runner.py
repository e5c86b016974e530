"""One beat replica: hold (or skip) the lease, fire what is due through the fence.

The sources (the file, the app's ``beat_schedule``, django-celery-beat's tables) are loaded
once at start and then polled by a watcher thread, which hands their changes to the loop. The
loop keeps every entry's next due instant in a heap (:mod:`scheduler.beat.table`): a pass
pops only the entries that are due, plans each one's claim (one tick on time, or the catch-up
policy after a gap), builds the messages and claims them in round trips of
:data:`CLAIMS_PER_ROUND_TRIP`, then puts each entry back at its next tick. Redis state is read
only for entries that are new, changed, or when this replica starts to lead. Then it sleeps
until the next due tick, lease renewal or source change, whichever comes first.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis

from scheduler.beat import message
from scheduler.beat.fence import Claim, Fence, Outcome, to_ms
from scheduler.beat.lease import Lease, NoLease
from scheduler.beat.metrics import BeatMetrics, SentryCrons
from scheduler.beat.schedules import ON_TIME_S, CatchUp, When, due_ticks, ticks_between
from scheduler.beat.settings import BeatSettings
from scheduler.beat.sources import Changes
from scheduler.beat.sources.catalog import Catalog
from scheduler.beat.sources.opening import open_catalog
from scheduler.beat.spec import Entry
from scheduler.beat.table import Slot, Table

log = logging.getLogger("shoal.beat")
Clock = Callable[[], datetime]
CLAIMS_PER_ROUND_TRIP = 2000
"""Due entries planned, built and claimed per round trip to Redis."""
LOG_EACH_TICK_UP_TO = 10
"""A pass that fires more ticks logs one summary line; each tick then only at DEBUG."""


def wall_clock() -> datetime:
    return datetime.now(UTC)


def resolve_condition(path: str) -> Callable[[], object]:
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    func: Callable[[], object] = getattr(importlib.import_module(module_name), attr)
    return func


@dataclass
class Plan:
    """What one pass does for one due entry."""

    slot: Slot
    claims: list[Claim] = field(default_factory=list)
    next_due: datetime | None = None
    skipped: int = 0
    reason: str = ""


class Beat:
    def __init__(
        self,
        settings: BeatSettings,
        client: redis.Redis,
        *,
        metrics: BeatMetrics,
        clock: Clock | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.metrics = metrics
        self.clock = clock or wall_clock
        self.catalog = catalog or open_catalog(
            schedules_path=settings.schedules_path, app_spec=settings.app, metrics=metrics
        )
        self.table = Table()
        for entry in self.catalog.load():  # a bad file or app stops startup here
            self.table.upsert(entry)
        self.fence = Fence(client)
        self.lease: Lease | NoLease = (
            Lease(client, settings.replica_id, settings.lease_s)
            if settings.leader_lease
            else NoLease()
        )
        self.sentry = SentryCrons(settings.sentry_dsn)
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._changes: queue.SimpleQueue[Changes] = queue.SimpleQueue()
        self._next_lease_at = 0.0
        self._leading = False
        self._by_source = {
            kind: (metrics.fired.labels(kind), metrics.refused.labels(kind))
            for kind in ("file", "app", "database")
        }

    # -- source changes ------------------------------------------------------------------
    def watch(self) -> None:
        """The watcher thread: poll the sources, hand their changes to the loop."""
        while not self.stop_event.wait(self.settings.reload_interval_s):
            try:
                changes = self.catalog.poll()
            except Exception:  # a source's bug must not end the watching
                log.exception("polling the schedule sources failed")
                continue
            if changes:
                self._changes.put(changes)
                self._wake.set()

    def apply_changes(self, changes: Changes) -> None:
        for name in changes.removals:
            self.table.remove(name)
        for entry in changes.upserts:
            self.table.upsert(entry)

    def _drain_changes(self) -> None:
        while True:
            try:
                self.apply_changes(self._changes.get_nowait())
            except queue.Empty:
                return

    # -- one pass ------------------------------------------------------------------------
    def step(self) -> float:
        """One pass of the loop; returns how long to sleep before the next."""
        self._drain_changes()
        mono = time.monotonic()
        if mono >= self._next_lease_at:
            leading = self.lease.refresh()
            every = self.lease.renew_every_s if leading else self.lease.retry_every_s
            self._next_lease_at = mono + every
            if leading != self._leading:
                log.info("leader: %s (token %s)", leading, self.lease.token)
                if leading:
                    self.table.unsync_all()  # the last leader may have fired since we looked
            self._leading = leading
            self.metrics.leader.set(1 if leading else 0)
        self.metrics.entries.set(len(self.table))
        if self._leading:
            self.fire_due(self.clock())
        return self._sleep_s(time.monotonic())

    def _sleep_s(self, mono: float) -> float:
        waits = [self.settings.max_sleep_s, self._next_lease_at - mono]
        if self._leading:
            soonest = self.table.next_due_ts()
            if soonest is not None:
                waits.append(soonest - self.clock().timestamp())
        return max(0.0, min(waits))

    def fire_due(self, now: datetime) -> None:
        """Fire every entry due at ``now``: state read where needed, claims in round trips."""
        self.table.forget_memo()
        self._sync(now)
        due = fired = 0
        while True:
            slots = self.table.pop_due(now.timestamp(), CLAIMS_PER_ROUND_TRIP)
            if not slots:
                break
            due += len(slots)
            fired += self._fire(slots, now, quiet=due > LOG_EACH_TICK_UP_TO)
        if due > LOG_EACH_TICK_UP_TO:
            log.info("fired %d ticks of %d due entries at %s", fired, due, now.isoformat())

    def _sync(self, now: datetime) -> None:
        """Read the newest claimed tick of new and changed entries; anchor brand-new ones."""
        slots = self.table.unsynced()
        if not slots:
            return
        lasts = self.fence.last_ticks([s.entry.name for s in slots])
        anchors: list[tuple[str, datetime]] = []
        for slot, last in zip(slots, lasts, strict=True):
            entry = slot.entry
            if last is None:
                last = entry.baseline if entry.baseline is not None else now
                anchors.append((entry.name, last))
            elif entry.baseline_raises and entry.baseline is not None and entry.baseline > last:
                last = entry.baseline  # a database row enabled again: no catch-up for the gap
            slot.last = last
            self.table.schedule(slot, self.table.next_fire(entry.schedule, last, entry.window))
        self.fence.anchor_many(anchors)

    # -- planning ------------------------------------------------------------------------
    def _plan(self, slot: Slot, now: datetime, published: datetime) -> Plan:
        entry, tick = slot.entry, slot.due
        assert tick is not None and slot.last is not None
        if isinstance(entry.schedule, When):
            return self._plan_condition(slot, now, published)
        after = self.table.next_fire(entry.schedule, tick, entry.window)
        if after is not None and after <= now:
            return self._plan_catch_up(slot, now, published)
        late_s = (now - tick).total_seconds()
        plan = Plan(slot, next_due=after)
        deadline = entry.starting_deadline_s
        if (deadline is not None and late_s > deadline) or (
            entry.catch_up is CatchUp.NONE and late_s > ON_TIME_S
        ):
            plan.claims.append(self._claim(entry, tick, published, after, fire=False))
            plan.skipped, plan.reason = 1, f"catchUp {entry.catch_up.value}: 0 of 1 due tick(s)"
        else:
            plan.claims.append(self._claim(entry, tick, published, after, fire=True))
        return plan

    def _claim(
        self, entry: Entry, tick: datetime, published: datetime, next_due: datetime | None,
        *, fire: bool, mode: str = "fire",
    ) -> Claim:  # fmt: skip
        messages = message.build(entry, tick, published, self.settings.priorities) if fire else []
        return Claim(
            entry.name,
            to_ms(tick),
            to_ms(published),
            None if next_due is None else to_ms(next_due),
            messages,
            mode if fire else "skip",
            self.lease.token,
        )

    def _plan_catch_up(self, slot: Slot, now: datetime, published: datetime) -> Plan:
        """More than one tick due (an outage, a stall): the entry's catch-up policy decides."""
        entry, last = slot.entry, slot.last
        assert last is not None
        due = due_ticks(
            entry.schedule, last, now, entry.catch_up, entry.starting_deadline_s, entry.window
        )
        newest = ticks_between(entry.schedule, last, now, entry.window)[-1]
        next_due = self.table.next_fire(entry.schedule, newest, entry.window)
        plan = Plan(slot, next_due=next_due, skipped=due.skipped, reason=due.reason)
        for tick in due.fire:
            plan.claims.append(self._claim(entry, tick, published, next_due, fire=True))
        if due.skipped and (not due.fire or due.fire[-1] < newest):
            plan.claims.append(self._claim(entry, newest, published, next_due, fire=False))
        return plan

    def _plan_condition(self, slot: Slot, now: datetime, published: datetime) -> Plan:
        entry, last = slot.entry, slot.last
        assert isinstance(entry.schedule, When) and last is not None
        checks = ticks_between(entry.schedule, last, now, entry.window)
        plan = Plan(slot)
        if not checks:
            plan.next_due = slot.due
            return plan
        plan.next_due = self.table.next_fire(entry.schedule, checks[-1], entry.window)
        try:
            value = bool(resolve_condition(entry.schedule.condition)())
        except Exception:
            self.metrics.condition_errors.labels(entry.name).inc()
            log.exception("%s: condition %s raised", entry.name, entry.schedule.condition)
            return plan
        mode = "cond1" if value else "cond0"
        plan.claims.append(
            self._claim(entry, checks[-1], published, plan.next_due, fire=True, mode=mode)
        )
        return plan

    # -- claiming ------------------------------------------------------------------------
    def _fire(self, slots: list[Slot], now: datetime, *, quiet: bool) -> int:
        """Plan, claim and account for a round trip's worth of due entries; ticks fired."""
        published = self.clock()
        plans = [self._plan(slot, now, published) for slot in slots]
        outcomes = iter(self.fence.claim_many([c for p in plans for c in p.claims]))
        fired = 0
        for plan in plans:
            entry, outcome = plan.slot.entry, Outcome.DUPLICATE
            for claim in plan.claims:
                outcome = next(outcomes)
                if outcome is Outcome.FIRED:
                    fired += 1
                    self._fired(entry, claim, published, quiet=quiet)
                elif outcome is Outcome.DUPLICATE:
                    self._by_source[entry.source][1].inc()
                plan.slot.last = max(plan.slot.last or published, _from_ms(claim.tick_ms))
            if plan.skipped and outcome is not Outcome.DUPLICATE:
                self.metrics.skipped.labels(entry.source).inc(plan.skipped)
                log.info("%s: %s", entry.name, plan.reason)
            self.table.schedule(plan.slot, plan.next_due)
        return fired

    def _fired(self, entry: Entry, claim: Claim, published: datetime, *, quiet: bool) -> None:
        tick = _from_ms(claim.tick_ms)
        lateness = max((published - tick).total_seconds(), 0.0)  # ticks are whole milliseconds
        self._by_source[entry.source][0].inc()
        self.metrics.lateness.observe(lateness)
        self.sentry.fired(entry)
        self.catalog.fired(entry, tick, published)
        if quiet:
            log.debug("%s: fired tick %s (%.3fs late)", entry.name, tick.isoformat(), lateness)
        else:
            log.info("%s: fired tick %s (%.3fs late)", entry.name, tick.isoformat(), lateness)

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        log.info(
            "beat %s: %d entries, lease %s",
            self.settings.replica_id,
            len(self.table),
            f"{self.settings.lease_s}s" if self.settings.leader_lease else "off",
        )
        watcher = threading.Thread(target=self.watch, name="beat-sources", daemon=True)
        watcher.start()
        try:
            while not self.stop_event.is_set():
                try:
                    delay = self.step()
                except redis.RedisError as exc:
                    log.warning("redis error, retrying: %s", exc)
                    self._leading = False  # leading again reads every entry's state anew
                    self._next_lease_at = 0.0
                    delay = 1.0
                self._wake.wait(delay)
                self._wake.clear()
        finally:
            self.stop()
            watcher.join(5.0)
            self.catalog.close()
            with contextlib.suppress(redis.RedisError):
                self.lease.release()
            log.info("beat %s stopped", self.settings.replica_id)

    def stop(self) -> None:
        self.stop_event.set()
        self._wake.set()


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
