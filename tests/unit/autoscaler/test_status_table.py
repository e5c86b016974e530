"""``shoal status``'s table: one line per queue."""

from __future__ import annotations

from scheduler.autoscaler.model import Decision, Observation, QueueState, Reason, note
from scheduler.autoscaler.status import record, table

STEPS = (0, 3, 6, 9)


def test_one_line_per_queue_with_every_column() -> None:
    ok = record(
        "emails",
        "shoal-worker-emails",
        Observation(
            backlog=1200,
            in_flight=40,
            oldest_age_s=95.0,
            current_replicas=4,
            held_live=42,
            held_dead=3,
            delayed=7,
            next_due_in_s=50.0,
        ),
        Decision(8, QueueState(), Reason.BACKLOG, (note("..."),)),
        at=100.0,
        waiting=(1000, 0, 0, 200),
        steps=STEPS,
    )
    idle = record(
        "digest",
        "shoal-worker-digest",
        Observation(current_replicas=0, delayed=4, next_due_in_s=-1.0),
        Decision(1, QueueState(), Reason.DELAYED_DUE, (note("..."),)),
        at=100.0,
        waiting=(0, 0, 0, 0),
        steps=STEPS,
    )
    failed = record(
        "reports",
        "shoal-worker-reports",
        Observation.failed(2),
        Decision(2, QueueState(), Reason.OBSERVATION_FAILED, (note("..."),)),
        at=100.0,
        waiting=(),
        steps=STEPS,
    )
    # The next due time is shown from the reader's now: due at 150, read at 103 -> 47s.
    assert table([ok, idle, failed], now=103.0).splitlines() == [
        "QUEUE    BACKLOG  BY PRIORITY   IN FLIGHT  HELD  DEAD  DELAYED  NEXT DUE  OLDEST  "
        "CURRENT  DESIRED  REASON              UPDATED",
        "emails   1200     9:200,0:1000  40         42    3     7        47s       95s     "
        "4        8        backlog             3s ago",
        "digest   0        -             0          0     0     4        -4s       -       "
        "0        1        delayed-due         3s ago",
        "reports  ?        -             ?          ?     ?     ?        -         -       "
        "2        2        observation-failed  3s ago",
    ]


def test_the_json_record_carries_every_count_and_the_due_time_as_epoch_seconds() -> None:
    obs = Observation(backlog=5, held_dead=2, delayed=1, next_due_in_s=30.5, current_replicas=1)
    rec = record(
        "q",
        "d",
        obs,
        Decision(1, QueueState(), Reason.STEADY),
        at=1000.0,
        waiting=(4, 0, 0, 1),
        steps=STEPS,
    )
    assert rec["waiting"] == {"0": 4, "3": 0, "6": 0, "9": 1}
    assert (rec["held_live"], rec["held_dead"], rec["delayed"]) == (0, 2, 1)
    assert rec["next_due_at"] == 1030.5
    nothing = record("q", "d", Observation(), Decision(0, QueueState(), Reason.IDLE), at=1000.0)
    assert nothing["next_due_at"] is None and nothing["waiting"] is None
