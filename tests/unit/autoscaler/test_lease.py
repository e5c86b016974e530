"""Leader election decisions on a fake clock."""

from __future__ import annotations

import pytest

from scheduler.autoscaler.lease import (
    LeaseAction,
    LeaseRecord,
    LeaseView,
    action,
    expired,
    observe,
    still_leader,
)


def rec(holder: str | None, renew: str = "t1", duration_s: int = 15) -> LeaseRecord:
    return LeaseRecord(holder=holder, renew_time=renew, duration_s=duration_s)


@pytest.mark.parametrize(
    ("record", "seen_at", "now", "expected"),
    [
        (None, 0.0, 0.0, LeaseAction.CREATE),
        (rec("me"), 0.0, 100.0, LeaseAction.RENEW),
        (rec("other"), 0.0, 10.0, LeaseAction.WAIT),
        (rec("other"), 0.0, 15.0, LeaseAction.WAIT),
        (rec("other"), 0.0, 15.1, LeaseAction.TAKE_OVER),
        (rec(None), 0.0, 0.0, LeaseAction.TAKE_OVER),  # released
        (rec(""), 0.0, 0.0, LeaseAction.TAKE_OVER),
    ],
)
def test_lease_actions(
    record: LeaseRecord | None, seen_at: float, now: float, expected: LeaseAction
) -> None:
    assert action(LeaseView(record, seen_at), "me", now) is expected


def test_expiry_counts_from_when_this_replica_saw_the_record_change() -> None:
    view = observe(None, rec("other", "t1"), now=0.0)
    view = observe(view, rec("other", "t1"), now=10.0)  # unchanged: the clock keeps running
    assert view.observed_at == 0.0
    assert expired(view, 16.0)
    view = observe(view, rec("other", "t2"), now=16.0)  # renewed: the clock restarts
    assert view.observed_at == 16.0
    assert not expired(view, 30.0)
    assert action(view, "me", 30.0) is LeaseAction.WAIT


@pytest.mark.parametrize(
    ("renewed_at", "now", "leader"),
    [(None, 0.0, False), (0.0, 9.9, True), (0.0, 10.0, False), (5.0, 14.0, True)],
)
def test_a_leader_stops_acting_before_its_lease_can_be_taken(
    renewed_at: float | None, now: float, leader: bool
) -> None:
    assert still_leader(renewed_at, 15, now) is leader
