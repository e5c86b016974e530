"""Leader election over a ``coordination.k8s.io/v1`` Lease: the pure decisions.

Like client-go's leader election, expiry is judged by when *this* replica last saw the lease
record change (its own clock), not by the ``renewTime`` written by another machine's clock,
so clock skew between replicas does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LeaseAction(StrEnum):
    CREATE = "create"
    """No lease yet: create it, holding it."""
    RENEW = "renew"
    """We hold it: write a fresh renewTime."""
    TAKE_OVER = "take-over"
    """Someone else held it, but it expired (or was released): take it."""
    WAIT = "wait"
    """Someone else holds a live lease: do not act."""


@dataclass(frozen=True)
class LeaseRecord:
    holder: str | None
    renew_time: str | None
    """As written (RFC 3339 micro time); compared only for change."""
    duration_s: int
    transitions: int = 0
    resource_version: str | None = None


@dataclass(frozen=True)
class LeaseView:
    """A lease record and the local time this replica first saw it in this form."""

    record: LeaseRecord | None
    observed_at: float


def observe(previous: LeaseView | None, record: LeaseRecord | None, now: float) -> LeaseView:
    """The view after reading ``record`` at ``now``: the clock restarts only on a change."""
    if previous is not None and _same(previous.record, record):
        return LeaseView(record, previous.observed_at)
    return LeaseView(record, now)


def _same(a: LeaseRecord | None, b: LeaseRecord | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.holder, a.renew_time, a.transitions) == (b.holder, b.renew_time, b.transitions)


def expired(view: LeaseView, now: float) -> bool:
    record = view.record
    if record is None or not record.holder:
        return True
    return now - view.observed_at > record.duration_s


def action(view: LeaseView, me: str, now: float) -> LeaseAction:
    record = view.record
    if record is None:
        return LeaseAction.CREATE
    if record.holder == me:
        return LeaseAction.RENEW
    if expired(view, now):
        return LeaseAction.TAKE_OVER
    return LeaseAction.WAIT


def still_leader(last_renewed_at: float | None, duration_s: int, now: float) -> bool:
    """We act only while our last successful renewal is younger than 2/3 of the duration
    (client-go's renew deadline), so a replica that cannot reach the API server stops acting
    before another one may take over."""
    return last_renewed_at is not None and now - last_renewed_at < duration_s * 2 / 3
