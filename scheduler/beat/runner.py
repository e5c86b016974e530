"""One beat replica: hold (or skip) the lease, fire what is due through the fence.

The sources (the file, the app's ``beat_schedule``, django-celery-beat's tables) are loaded
once at start and then polled by a watcher thread, which hands their changes to the loop; a
lease thread renews the leader lease, so a long pass of the loop does not lose it (a loop that
stops turning does). The loop keeps every entry's next due instant in a heap
(:mod:`scheduler.beat.table`): a pass takes only the entries that are due, plans each one's
claims (:mod:`scheduler.beat.planning`), claims a burst in round trips of
:data:`CLAIMS_PER_ROUND_TRIP` before any accounting, then puts each entry back at its next
tick and builds the messages of what is due within :data:`PREPARE_AHEAD_S`. Redis state is
read only for entries that are new, changed, or when this replica starts to lead. Then it
sleeps until the next due tick or source change.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

import redis

from scheduler.beat.fence import Fence, Outcome
from scheduler.beat.lease import Lease, NoLease
from scheduler.beat.metrics import BeatMetrics, SentryCrons
from scheduler.beat.planning import Plan, Planner
from scheduler.beat.settings import BeatSettings
from scheduler.beat.sources import Changes
from scheduler.beat.sources.catalog import Catalog
from scheduler.beat.sources.opening import open_catalog
from scheduler.beat.spec import Entry
from scheduler.beat.table import Ready, Table

log = logging.getLogger("shoal.beat")
Clock = Callable[[], datetime]
CLAIMS_PER_ROUND_TRIP = 2000
"""Due entries planned, built and claimed per round trip to Redis."""
FREEZE_AFTER = 1000
"""After reading this many entries' states, their objects leave the garbage collector's care:
walking 100,000 entries at each collection stalled bursts by a third."""
PREPARE_AHEAD_S = 5.0
"""Entries due within this long have their messages built ahead of the tick."""
LOG_EACH_TICK_UP_TO = 10
LOG_EACH_TICK_ENTRIES = 1000
"""A pass that fires more than 10 ticks, or any pass of a beat with more than 1,000 entries,
logs each tick at DEBUG only; a summary line comes once a minute."""
SUMMARY_EVERY_S = 60.0
LOOP_STALL_S = 30.0
"""A leader whose loop has not turned for this long (or three lease times) lets the lease go."""


def wall_clock() -> datetime:
    return datetime.now(UTC)


class Claimed(NamedTuple):
    """A round trip's plans and the fence's answers."""

    plans: list[Plan]
    outcomes: list[Outcome]
    published: datetime


@dataclass
class QuietCounts:
    """What the log has not told one tick at a time since ``since``."""

    since: float = field(default_factory=time.monotonic)
    fired: int = 0
    skipped: int = 0
    max_late_s: float = 0.0
    burst: tuple[int, float] = (0, 0.0)
    """The largest pass: due entries, and the seconds their claims took."""


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
        self.planner = Planner(self.table, settings.priorities, metrics, lambda: self.lease.token)
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
        self._lease_view: tuple[bool, int] = (False, 0)
        """(leading, generation): the lease thread's answer; each change a new generation."""
        self._seen_generation = 0
        self._keeper: threading.Thread | None = None
        self._alive_at = time.monotonic()
        self._quiet_counts = QuietCounts()
        self._claimer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="beat-claims")
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
        self._alive_at = time.monotonic()
        self._drain_changes()
        if self._keeper is None:  # no lease thread (a test driving passes by hand)
            self._keep_lease()
        leading, generation = self._lease_view
        if leading and generation != self._seen_generation:
            self.table.unsync_all()  # the last leader may have fired since we looked
            self._seen_generation = generation
        self._leading = leading
        self.metrics.entries.set(len(self.table))
        if self._leading:
            self.fire_due(self.clock())
        return self._sleep_s(time.monotonic())

    def _keep_lease(self) -> float:
        """Renew or try the lease; how long until the next try. A leader whose loop has not
        turned for :data:`LOOP_STALL_S` lets the lease lapse, so a standby takes over."""
        stalled = time.monotonic() - self._alive_at > max(LOOP_STALL_S, 3 * self.settings.lease_s)
        try:
            leading = False if stalled else self.lease.refresh()
        except redis.RedisError as exc:
            log.warning("lease: redis error, retrying: %s", exc)
            leading = False
        if stalled and self._lease_view[0]:
            log.error("the loop has not turned for %.0fs: the lease is let go",
                      time.monotonic() - self._alive_at)  # fmt: skip
        was, generation = self._lease_view
        if leading != was:
            log.info("leader: %s (token %s)", leading, self.lease.token)
            generation += 1
        self._lease_view = (leading, generation)
        self.metrics.leader.set(1 if leading else 0)
        return self.lease.renew_every_s if leading else self.lease.retry_every_s

    def keep_lease(self) -> None:
        """The lease thread: renewals do not wait for a long pass of the loop."""
        while not self.stop_event.is_set():
            self.stop_event.wait(self._keep_lease())

    def _sleep_s(self, mono: float) -> float:
        waits = [self.settings.max_sleep_s]
        if self._leading:
            now_ts = self.clock().timestamp()
            ready, soonest = self.table.next_ready_ts(), self.table.next_due_ts()
            if ready is not None:
                waits.append(ready - now_ts)
            if soonest is not None:
                waits.append(soonest - PREPARE_AHEAD_S - now_ts)
        return max(0.0, min(waits))

    def fire_due(self, now: datetime) -> None:
        """Fire every entry due at ``now``, then build the messages of those due within
        :data:`PREPARE_AHEAD_S`, firing what comes due meanwhile."""
        self.table.forget_memo()
        self._sync(now)
        self._prepare(now.timestamp())
        collecting = gc.isenabled()
        gc.disable()  # the burst's claims first; its garbage is collected after
        started = time.monotonic()
        try:
            claimed = self._claim_burst(now)
        finally:
            if collecting:
                gc.enable()
        due = sum(len(c.plans) for c in claimed)
        quiet = self._quiet(due)
        if quiet:
            counts = self._quiet_counts
            counts.burst = max(counts.burst, (due, time.monotonic() - started))
        for c in claimed:
            self._account(c, quiet=quiet)
        self._prepare(now.timestamp() + PREPARE_AHEAD_S, fire_meanwhile=True)
        self._summarize()

    def _quiet(self, due: int) -> bool:
        """Each tick gets its own log line on a small schedule; a big one (or a big pass) is
        summed up once a minute instead (each tick then at DEBUG)."""
        return due > LOG_EACH_TICK_UP_TO or len(self.table) > LOG_EACH_TICK_ENTRIES

    def _summarize(self, *, final: bool = False) -> None:
        """The summary line once a minute; ``final``: at stop, for what the last minute fired
        (so the log accounts for every tick a replica fired)."""
        quiet = self._quiet_counts
        due = final or time.monotonic() - quiet.since >= SUMMARY_EVERY_S
        if quiet.fired + quiet.skipped and due:
            log.info(
                "fired %d ticks in the last %.0fs (latest %.3fs late at most; the largest pass "
                "claimed %d due entries in %.3fs); %d due ticks skipped by catch-up policies",
                quiet.fired, time.monotonic() - quiet.since, quiet.max_late_s, *quiet.burst,
                quiet.skipped,
            )  # fmt: skip
            self._quiet_counts = QuietCounts()

    def _prepare(self, until_ts: float, *, fire_meanwhile: bool = False) -> None:
        """Take the slots due by ``until_ts`` off the heap, their messages built ahead."""
        while slots := self.table.pop_due(until_ts, CLAIMS_PER_ROUND_TRIP):
            self._alive_at = time.monotonic()
            for slot in slots:
                self.table.add_ready(self.planner.ready(slot))
            if fire_meanwhile:
                now = self.clock()
                while batch := self.table.take_ready(now.timestamp(), CLAIMS_PER_ROUND_TRIP):
                    self._fire(batch, now, quiet=self._quiet(len(batch)))

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
        if len(slots) >= FREEZE_AFTER:
            gc.freeze()  # long-lived now: the collector need not walk them at every burst

    # -- claiming ------------------------------------------------------------------------
    def _fire(self, items: list[Ready], now: datetime, *, quiet: bool) -> int:
        """Claim a round trip's worth of due entries, then account for them; ticks fired."""
        published = self.clock()
        plans = self.planner.plan_all(items, now, published)
        outcomes = self.fence.claim_many([c for p in plans for c in p.claims])
        return self._account(Claimed(plans, outcomes, published), quiet=quiet)

    def _claim_burst(self, now: datetime) -> list[Claimed]:
        """Every claim of what is due, before any accounting: while Redis runs one round trip
        (on the claimer thread) the next is planned."""
        claimed: list[Claimed] = []
        failure: BaseException | None = None
        in_flight: tuple[list[Plan], datetime, Future[list[Outcome]]] | None = None
        while True:
            self._alive_at = time.monotonic()
            batch = self.table.take_ready(now.timestamp(), CLAIMS_PER_ROUND_TRIP)
            planned = None
            if batch and failure is None:
                published = self.clock()
                planned = (self.planner.plan_all(batch, now, published), published)
            if in_flight is not None:  # one round trip ahead at most: published_at stays true
                plans, published, future = in_flight
                try:
                    claimed.append(Claimed(plans, future.result(), published))
                except Exception as exc:  # the rest are not claimed; the error ends the pass
                    failure = failure or exc
                in_flight = None
            if planned is None:
                break
            if failure is None:
                claims = [c for p in planned[0] for c in p.claims]
                in_flight = (*planned, self._claimer.submit(self.fence.claim_many, claims))
        if failure is not None:
            raise failure
        return claimed

    def _account(self, claimed: Claimed, *, quiet: bool) -> int:
        """Metrics, the log, write-backs, and each entry back on the heap at its next tick."""
        outcomes = iter(claimed.outcomes)
        published = claimed.published
        fired: dict[str, int] = {}
        late: list[float] = []
        for plan in claimed.plans:
            entry, outcome = plan.slot.entry, Outcome.DUPLICATE
            for claim in plan.claims:
                outcome = next(outcomes)
                tick = _from_ms(claim.tick_ms)
                if outcome is Outcome.FIRED:
                    fired[entry.source] = fired.get(entry.source, 0) + 1
                    late.append(max((published - tick).total_seconds(), 0.0))  # whole ms ticks
                    self._fired(entry, tick, published, late[-1], quiet=quiet)
                elif outcome is Outcome.DUPLICATE:
                    self._by_source[entry.source][1].inc()
                if plan.slot.last is None or tick > plan.slot.last:
                    plan.slot.last = tick
            if plan.skipped and outcome is not Outcome.DUPLICATE:
                self.metrics.skipped.labels(entry.source).inc(plan.skipped)
                log.log(logging.DEBUG if quiet else logging.INFO, "%s: %s", entry.name,
                        plan.reason)  # fmt: skip
                if quiet:
                    self._quiet_counts.skipped += plan.skipped
            self.table.schedule(plan.slot, plan.next_due)
        for source, count in fired.items():
            self._by_source[source][0].inc(count)
        self.metrics.lateness.observe_many(late)
        if quiet and late:
            counts = self._quiet_counts
            counts.fired += len(late)
            counts.max_late_s = max(counts.max_late_s, max(late))
        return len(late)

    def _fired(
        self, entry: Entry, tick: datetime, published: datetime, late_s: float, *, quiet: bool
    ) -> None:
        self.sentry.fired(entry)
        self.catalog.fired(entry, tick, published)
        if quiet:
            log.debug("%s: fired tick %s (%.3fs late)", entry.name, tick.isoformat(), late_s)
        else:
            log.info("%s: fired tick %s (%.3fs late)", entry.name, tick.isoformat(), late_s)

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
        self._alive_at = time.monotonic()
        self._keeper = threading.Thread(target=self.keep_lease, name="beat-lease", daemon=True)
        self._keeper.start()
        try:
            while not self.stop_event.is_set():
                try:
                    delay = self.step()
                except redis.RedisError as exc:
                    log.warning("redis error, retrying: %s", exc)
                    self._seen_generation = -1  # leading on reads every entry's state anew
                    delay = 1.0
                self._wake.wait(delay)
                self._wake.clear()
        finally:
            self.stop()
            self._keeper.join(5.0)
            watcher.join(5.0)
            self._claimer.shutdown(wait=True)
            self.catalog.close()
            with contextlib.suppress(redis.RedisError):
                self.lease.release()
            self._summarize(final=True)
            log.info("beat %s stopped", self.settings.replica_id)

    def stop(self) -> None:
        self.stop_event.set()
        self._wake.set()


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
