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
import gc
import importlib
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

from scheduler.beat import message
from scheduler.beat.fence import Claim, Fence, Outcome, to_ms
from scheduler.beat.lease import Lease, NoLease
from scheduler.beat.message import Outgoing
from scheduler.beat.metrics import BeatMetrics, SentryCrons
from scheduler.beat.schedules import ON_TIME_S, CatchUp, When, due_ticks, ticks_between
from scheduler.beat.settings import BeatSettings
from scheduler.beat.sources import Changes
from scheduler.beat.sources.catalog import Catalog
from scheduler.beat.sources.opening import open_catalog
from scheduler.beat.spec import Entry
from scheduler.beat.table import Ready, Slot, Table
from scheduler.beat.template import Prepared, Template, compile_entry, prepare, render

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
"""A pass that fires more ticks logs one summary line; each tick then only at DEBUG."""


def wall_clock() -> datetime:
    return datetime.now(UTC)


def resolve_condition(path: str) -> Callable[[], object]:
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    func: Callable[[], object] = getattr(importlib.import_module(module_name), attr)
    return func


class Claimed(NamedTuple):
    """A round trip's plans and the fence's answers."""

    plans: list[Plan]
    outcomes: list[Outcome]
    published: datetime


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
        self._published_iso = ""
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
        claimed = self._claim_burst(now)
        due = sum(len(c.plans) for c in claimed)
        fired = sum(self._account(c, quiet=due > LOG_EACH_TICK_UP_TO) for c in claimed)
        if due > LOG_EACH_TICK_UP_TO:
            log.info("fired %d ticks of %d due entries at %s", fired, due, now.isoformat())
        self._prepare(now.timestamp() + PREPARE_AHEAD_S, fire_meanwhile=True)

    def _prepare(self, until_ts: float, *, fire_meanwhile: bool = False) -> None:
        """Take the slots due by ``until_ts`` off the heap, their messages built ahead."""
        while slots := self.table.pop_due(until_ts, CLAIMS_PER_ROUND_TRIP):
            for slot in slots:
                self.table.add_ready(self._ready(slot))
            if fire_meanwhile:
                now = self.clock()
                while batch := self.table.take_ready(now.timestamp(), CLAIMS_PER_ROUND_TRIP):
                    self._fire(batch, now, quiet=len(batch) > LOG_EACH_TICK_UP_TO)

    def _ready(self, slot: Slot) -> Ready:
        entry, tick = slot.entry, slot.due
        assert tick is not None
        after = None
        prepared = None
        tick_ts = tick.timestamp()
        if not isinstance(entry.schedule, When):
            after = self.table.next_fire(entry.schedule, tick, entry.window)
            if entry.mode == "task":
                compiled = slot.template
                if not isinstance(compiled, Template):
                    compiled = slot.template = compile_entry(entry, self.settings.priorities)
                assert compiled is not None
                prepared = prepare(compiled, entry, tick)
        on_time_s = min(ON_TIME_S, entry.starting_deadline_s or ON_TIME_S)
        return Ready(slot, tick_ts, after, prepared, tick_ts + on_time_s)

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

    # -- planning ------------------------------------------------------------------------
    def _plan(self, item: Ready, now: datetime, published: datetime) -> Plan:
        slot = item.slot
        entry, tick = slot.entry, slot.due
        assert tick is not None and slot.last is not None
        if isinstance(entry.schedule, When):
            return self._plan_condition(slot, now, published)
        after = item.next_due
        if after is not None and after <= now:
            return self._plan_catch_up(slot, now, published)
        late_s = (now - tick).total_seconds()
        plan = Plan(slot, next_due=after)
        deadline = entry.starting_deadline_s
        if (deadline is not None and late_s > deadline) or (
            entry.catch_up is CatchUp.NONE and late_s > ON_TIME_S
        ):
            plan.claims.append(self._claim(slot, tick, published, after, fire=False))
            plan.skipped, plan.reason = 1, f"catchUp {entry.catch_up.value}: 0 of 1 due tick(s)"
        else:
            built = item.prepared  # built ahead: only the publish instant is left
            ahead = [built.finish(self._published_iso)] if isinstance(built, Prepared) else None
            plan.claims.append(self._claim(slot, tick, published, after, fire=True, built=ahead))
        return plan

    def _claim(
        self, slot: Slot, tick: datetime, published: datetime, next_due: datetime | None,
        *, fire: bool, mode: str = "fire", built: list[Outgoing] | None = None,
    ) -> Claim:  # fmt: skip
        entry = slot.entry
        messages = (built or self._messages(slot, tick, published)) if fire else []
        return Claim(
            entry.name,
            to_ms(tick),
            to_ms(published),
            None if next_due is None else to_ms(next_due),
            messages,
            mode if fire else "skip",
            self.lease.token,
        )

    def _messages(self, slot: Slot, tick: datetime, published: datetime) -> list[Outgoing]:
        """A plain task's message from its compiled template; chains and groups built whole."""
        entry = slot.entry
        if entry.mode != "task":
            return message.build(entry, tick, published, self.settings.priorities)
        compiled = slot.template
        if not isinstance(compiled, Template):
            compiled = slot.template = compile_entry(entry, self.settings.priorities)
            assert compiled is not None
        return [render(compiled, entry, tick, published)]

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
            plan.claims.append(self._claim(slot, tick, published, next_due, fire=True))
        if due.skipped and (not due.fire or due.fire[-1] < newest):
            plan.claims.append(self._claim(slot, newest, published, next_due, fire=False))
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
            self._claim(slot, checks[-1], published, plan.next_due, fire=True, mode=mode)
        )
        return plan

    # -- claiming ------------------------------------------------------------------------
    def _fire(self, items: list[Ready], now: datetime, *, quiet: bool) -> int:
        """Claim a round trip's worth of due entries, then account for them; ticks fired."""
        plans, published = self._plan_all(items, now)
        outcomes = self.fence.claim_many([c for p in plans for c in p.claims])
        return self._account(Claimed(plans, outcomes, published), quiet=quiet)

    def _claim_burst(self, now: datetime) -> list[Claimed]:
        """Every claim of what is due, before any accounting: while Redis runs one round trip
        (on the claimer thread) the next is planned."""
        pending: list[tuple[list[Plan], datetime, Future[list[Outcome]]]] = []
        while batch := self.table.take_ready(now.timestamp(), CLAIMS_PER_ROUND_TRIP):
            plans, published = self._plan_all(batch, now)
            claims = [c for p in plans for c in p.claims]
            pending.append((plans, published, self._claimer.submit(self.fence.claim_many, claims)))
        claimed: list[Claimed] = []
        failure: BaseException | None = None
        for plans, published, future in pending:  # all answered before an error is raised
            try:
                claimed.append(Claimed(plans, future.result(), published))
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        return claimed

    def _plan_all(self, items: list[Ready], now: datetime) -> tuple[list[Plan], datetime]:
        """The publish path: plan (the messages are mostly built ahead)."""
        published = self.clock()
        published_iso = self._published_iso = published.astimezone(UTC).isoformat()
        published_ms, now_ts, token = to_ms(published), now.timestamp(), self.lease.token
        plans: list[Plan] = []
        for item in items:
            built = item.prepared
            if (isinstance(built, Prepared) and now_ts <= item.fast_until_ts
                    and item.next_due_ts > now_ts):  # fmt: skip
                # on time, the only tick due, its message built ahead: nothing to decide
                slot, after = item.slot, item.next_due
                claim = Claim(
                    slot.entry.name, round(item.tick_ts * 1000), published_ms,
                    None if after is None else round(item.next_due_ts * 1000),
                    [built.finish(published_iso)], "fire", token,
                )  # fmt: skip
                plans.append(Plan(slot, [claim], after))
            else:
                plans.append(self._plan(item, now, published))
        return plans, published

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
                log.info("%s: %s", entry.name, plan.reason)
            self.table.schedule(plan.slot, plan.next_due)
        for source, count in fired.items():
            self._by_source[source][0].inc(count)
        self.metrics.lateness.observe_many(late)
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
            self._claimer.shutdown(wait=True)
            self.catalog.close()
            with contextlib.suppress(redis.RedisError):
                self.lease.release()
            log.info("beat %s stopped", self.settings.replica_id)

    def stop(self) -> None:
        self.stop_event.set()
        self._wake.set()


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
