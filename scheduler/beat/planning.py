"""What one pass does for each due entry: the claims to make, and the entry's next tick.

The common case needs no decision: the one tick due, on time, its message built ahead
(:mod:`scheduler.beat.template`), so :meth:`Planner.plan_all` only fills in the publish
instant. Otherwise: a ``when`` condition is evaluated; after a gap the entry's catch-up policy
decides (an interval's gap by arithmetic, any other schedule tick by tick with
``schedules.due_ticks``); a tick past ``startingDeadlineSeconds`` is claimed without being
published. No I/O: the runner claims the plans through the fence.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from contract.priority import Priorities
from scheduler.beat import message
from scheduler.beat.fence import Claim, to_ms
from scheduler.beat.message import Outgoing
from scheduler.beat.metrics import BeatMetrics
from scheduler.beat.schedules import (
    ON_TIME_S,
    CatchUp,
    Every,
    When,
    due_ticks,
    ticks_between,
)
from scheduler.beat.table import Ready, Slot, Table
from scheduler.beat.template import Prepared, Template, compile_entry, prepare, render

log = logging.getLogger("shoal.beat")


@dataclass
class Plan:
    """What one pass does for one due entry."""

    slot: Slot
    claims: list[Claim] = field(default_factory=list)
    next_due: datetime | None = None
    skipped: int = 0
    reason: str = ""


def resolve_condition(path: str) -> Callable[[], object]:
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    func: Callable[[], object] = getattr(importlib.import_module(module_name), attr)
    return func


class Planner:
    def __init__(
        self, table: Table, priorities: Priorities, metrics: BeatMetrics,
        token: Callable[[], int],
    ) -> None:  # fmt: skip
        self.table = table
        self.priorities = priorities
        self.metrics = metrics
        self.token = token
        """The lease's fencing token, recorded with each claim."""
        self._published_iso = ""

    def ready(self, slot: Slot) -> Ready:
        """The slot taken off the heap before its tick, its message built ahead."""
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
                    compiled = slot.template = compile_entry(entry, self.priorities)
                assert compiled is not None
                prepared = prepare(compiled, entry, tick)
        on_time_s = min(ON_TIME_S, entry.starting_deadline_s or ON_TIME_S)
        return Ready(slot, tick_ts, after, prepared, tick_ts + on_time_s)

    def plan_all(self, items: list[Ready], now: datetime, published: datetime) -> list[Plan]:
        """The publish path: what to claim for each due item, published at ``published``."""
        published_iso = self._published_iso = published.astimezone(UTC).isoformat()
        published_ms, now_ts, token = to_ms(published), now.timestamp(), self.token()
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
        return plans

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
            self.token(),
        )

    def _messages(self, slot: Slot, tick: datetime, published: datetime) -> list[Outgoing]:
        """A plain task's message from its compiled template; chains and groups built whole."""
        entry = slot.entry
        if entry.mode != "task":
            return message.build(entry, tick, published, self.priorities)
        compiled = slot.template
        if not isinstance(compiled, Template):
            compiled = slot.template = compile_entry(entry, self.priorities)
            assert compiled is not None
        return [render(compiled, entry, tick, published)]

    def _plan_catch_up(self, slot: Slot, now: datetime, published: datetime) -> Plan:
        """More than one tick due (an outage, a stall): the entry's catch-up policy decides."""
        entry, last = slot.entry, slot.last
        assert last is not None
        if isinstance(entry.schedule, Every) and entry.catch_up is not CatchUp.ALL:
            return self._plan_interval_gap(slot, now, published)
        return self._plan_walked(slot, now, published)

    def _plan_walked(self, slot: Slot, now: datetime, published: datetime) -> Plan:
        """The gap walked tick by tick (``schedules.due_ticks``)."""
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

    def _plan_interval_gap(self, slot: Slot, now: datetime, published: datetime) -> Plan:
        """An interval's gap without walking it: only the newest tick can fire (``latest`` or
        ``none``), and how many were due is arithmetic (a table's rows saved an hour ago start
        with 60 due ticks each)."""
        entry, last = slot.entry, slot.last
        schedule = entry.schedule
        assert isinstance(schedule, Every) and last is not None
        step = timedelta(seconds=schedule.interval_s)
        newest = self.table.next_fire(schedule, max(now - step, last), entry.window)
        if newest is None or newest > now:  # the window ended inside the gap: walk it
            return self._plan_walked(slot, now, published)
        k_newest = round((newest - schedule.anchor).total_seconds() / schedule.interval_s)
        elapsed_s = (last - schedule.anchor).total_seconds()  # no tick before the anchor
        k_last = max(-1, math.floor(elapsed_s / schedule.interval_s + 1e-9))
        count = max(1, k_newest - k_last)  # the ticks in (last, newest]
        late_s = (now - newest).total_seconds()
        deadline = entry.starting_deadline_s
        fires = (deadline is None or late_s <= deadline) and (
            entry.catch_up is CatchUp.LATEST or late_s <= ON_TIME_S
        )
        next_due = self.table.next_fire(schedule, newest, entry.window)
        reason = f"catchUp {entry.catch_up.value}: {int(fires)} of {count} due tick(s)"
        plan = Plan(slot, next_due=next_due, skipped=count - int(fires), reason=reason)
        plan.claims.append(self._claim(slot, newest, published, next_due, fire=fires))
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
