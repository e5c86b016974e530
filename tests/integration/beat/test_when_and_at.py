"""`when` fires once per false-to-true edge; `at` fires once and never again, across a restart."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from tests.integration.beat.support import published, start_beats, state, write_schedules
from tests.support.procs import ProcessTracker, wait_for


@pytest.mark.timeout(120)
def test_when_fires_once_per_rising_edge_with_every_replica_checking(
    procs: ProcessTracker, worker_env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    path = tmp_path / "schedules.yaml"
    write_schedules(
        path,
        """
schedules:
  - name: disk-alarm
    task: shoal.noop
    queue: wq
    when: tests.integration.beat.conditions:flag_is_set
    checkEverySeconds: 0.5
""",
    )
    redis_client.set("shoal:test:flag", "0")
    start_beats(procs, worker_env, path, 2, "--no-leader-lease")
    wait_for(
        lambda: state(redis_client, "disk-alarm").get("condition") == "0",
        timeout_s=20,
        message="a first false check",
    )

    def fired() -> int:
        return len(published(redis_client, "wq"))

    for edge in (1, 2, 3):
        redis_client.set("shoal:test:flag", "1")
        wait_for(lambda e=edge: fired() >= e, timeout_s=10, message=f"edge {edge}")  # type: ignore[misc]
        time.sleep(2.0)  # stays true for four checks: no further fires
        assert fired() == edge
        redis_client.set("shoal:test:flag", "0")
        wait_for(
            lambda: state(redis_client, "disk-alarm").get("condition") == "0",
            timeout_s=10,
            message="the condition seen false",
        )
    assert fired() == 3
    assert int(state(redis_client, "disk-alarm")["run_count"]) == 3


@pytest.mark.timeout(120)
def test_at_fires_once_and_never_again_across_a_restart(
    procs: ProcessTracker, worker_env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    at = (datetime.now(UTC) + timedelta(seconds=6)).replace(microsecond=0)
    path = tmp_path / "schedules.yaml"
    write_schedules(
        path,
        f"""
schedules:
  - name: launch
    task: shoal.noop
    queue: aq
    at: "{at.isoformat()}"
""",
    )
    (first,) = start_beats(procs, worker_env, path, 1, name="first")
    wait_for(lambda: published(redis_client, "aq"), timeout_s=30, message="the one-off")
    time.sleep(2)
    first.stop()
    (second,) = start_beats(procs, worker_env, path, 1, name="second")
    wait_for(lambda: "beat " in second.output(), timeout_s=20, message="the restarted beat")
    time.sleep(4)
    second.stop()
    messages = published(redis_client, "aq")
    assert [m.tick_ms for m in messages] == [int(at.timestamp() * 1000)]
    st = state(redis_client, "launch")
    assert st["run_count"] == "1" and "next_due_ms" not in st
