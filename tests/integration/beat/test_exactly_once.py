"""Three beat replicas on one Redis: each tick is published exactly once, lease or no lease.

The entry uses ``catchUp: all`` with a 30 s deadline so that a replica stalled by a busy test
machine (or the failover pause) catches up instead of leaving a gap: the property under test is
exactly-once across replicas, and "no gaps" then holds even across a leader's death.
"""

from __future__ import annotations

import itertools
import signal
import statistics
import time
from datetime import datetime
from pathlib import Path

import pytest
import redis

from tests.integration.beat.support import (
    Published,
    log_text,
    published,
    start_beats,
    state,
    write_schedules,
)
from tests.support.procs import ProcessTracker, wait_for

ONE_SECOND = """
schedules:
  - name: heartbeat
    task: shoal.noop
    queue: beatq
    every: 1s
    catchUp: all
    startingDeadlineSeconds: 30
"""
RUN_S = 60


def assert_each_tick_once_without_gaps(messages: list[Published], *, at_least: int) -> None:
    ticks = [m.tick_ms for m in messages]
    assert len(ticks) == len(set(ticks)), "a tick was published twice"
    assert len({m.task_id for m in messages}) == len(messages)
    gaps = [(a, b) for a, b in itertools.pairwise(ticks) if b - a != 1000]
    assert gaps == [], f"ticks missing between {gaps[:5]}"
    assert len(ticks) >= at_least


def run_three(procs: ProcessTracker, env: dict[str, str], tmp_path: Path, *extra: str) -> list[int]:
    """Run three replicas for RUN_S; returns how many ticks each one says it fired."""
    path = tmp_path / "schedules.yaml"
    write_schedules(path, ONE_SECOND)
    beats = start_beats(procs, env, path, 3, *extra)
    time.sleep(RUN_S)
    for beat in beats:
        assert beat.alive(), beat.output()
        beat.stop()
    return [log_text(beat).count("heartbeat: fired tick") for beat in beats]


@pytest.mark.timeout(180)
def test_three_replicas_with_lease_fire_each_tick_once(
    procs: ProcessTracker, worker_env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    per_replica = run_three(procs, worker_env, tmp_path)
    messages = published(redis_client, "beatq")
    assert_each_tick_once_without_gaps(messages, at_least=RUN_S - 10)
    st = state(redis_client, "heartbeat")
    assert int(st["run_count"]) == len(messages) == sum(per_replica)
    assert sorted(per_replica)[:2] == [0, 0]  # only the leader fired
    assert st.get("refused", "0") == "0"  # and no one else even tried
    lateness = sorted(
        datetime.fromisoformat(m.published_at).timestamp() - m.tick_ms / 1000 for m in messages
    )
    print(f"lease: {len(messages)} ticks, median lateness {statistics.median(lateness):.3f}s")


@pytest.mark.timeout(180)
def test_three_replicas_without_lease_still_fire_each_tick_once(
    procs: ProcessTracker, worker_env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    per_replica = run_three(procs, worker_env, tmp_path, "--no-leader-lease")
    messages = published(redis_client, "beatq")
    assert_each_tick_once_without_gaps(messages, at_least=RUN_S - 10)
    st = state(redis_client, "heartbeat")
    assert int(st["run_count"]) == len(messages) == sum(per_replica)
    # the replicas really raced: ticks were won by more than one of them, and the fence
    # refused the losers of simultaneous claims
    assert sum(1 for n in per_replica if n > 0) >= 2, per_replica
    assert int(st.get("refused", "0")) > 0
    print(f"no lease: fired per replica {per_replica}, refused {st['refused']}")


@pytest.mark.timeout(180)
def test_sigkill_of_the_leader_hands_over_within_the_lease_time(
    procs: ProcessTracker, worker_env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    lease_s = 10.0  # the default
    path = tmp_path / "schedules.yaml"
    write_schedules(path, ONE_SECOND)
    beats = start_beats(procs, worker_env, path, 3)
    holder = wait_for(
        lambda: redis_client.get("shoal:beat:leader"), timeout_s=30, message="a leader"
    )
    wait_for(lambda: len(published(redis_client, "beatq")) >= 5, timeout_s=30, message="5 ticks")
    assert isinstance(holder, bytes)
    leader_pid = int(holder.decode().rsplit("-", 1)[1])
    (leader,) = [b for b in beats if b.pid == leader_pid]
    leader.kill_group(signal.SIGKILL)
    killed_at = time.time()
    leader.wait(5)

    def published_after_kill() -> list[Published]:
        return [
            m for m in published(redis_client, "beatq")
            if datetime.fromisoformat(m.published_at).timestamp() > killed_at
        ]  # fmt: skip

    wait_for(lambda: len(published_after_kill()) >= 5, timeout_s=40, message="ticks after kill")
    takeover_s = (
        min(datetime.fromisoformat(m.published_at).timestamp() for m in published_after_kill())
        - killed_at
    )
    new_holder = redis_client.get("shoal:beat:leader")
    assert new_holder is not None and new_holder != holder
    assert takeover_s <= lease_s + 1.0, f"takeover took {takeover_s:.1f}s"
    for beat in beats:
        beat.stop()
    assert_each_tick_once_without_gaps(published(redis_client, "beatq"), at_least=10)
    print(f"leader takeover after SIGKILL: {takeover_s:.2f}s (lease {lease_s}s)")
