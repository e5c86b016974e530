"""``shoal status``'s table: one line per queue."""

from __future__ import annotations

from scheduler.autoscaler.model import Decision, Observation, QueueState, Reason, note
from scheduler.autoscaler.status import record, table


def test_one_line_per_queue_with_every_column() -> None:
    ok = record(
        "emails",
        "shoal-worker-emails",
        Observation(backlog=1200, in_flight=40, oldest_age_s=95.0, current_replicas=4),
        Decision(8, QueueState(), Reason.BACKLOG, (note("..."),)),
        at=100.0,
    )
    failed = record(
        "reports",
        "shoal-worker-reports",
        Observation.failed(2),
        Decision(2, QueueState(), Reason.OBSERVATION_FAILED, (note("..."),)),
        at=100.0,
    )
    assert table([ok, failed], now=103.0).splitlines() == [
        "QUEUE    BACKLOG  IN FLIGHT  OLDEST  CURRENT  DESIRED  REASON              UPDATED",
        "emails   1200     40         95s     4        8        backlog             3s ago",
        "reports  ?        ?          -       2        2        observation-failed  3s ago",
    ]
