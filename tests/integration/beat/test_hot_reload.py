"""Editing the schedules file while three replicas run: add, change, remove, and a bad edit."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from tests.integration.beat.support import log_text, published, start_beats, write_schedules
from tests.support.procs import ProcessTracker, wait_for

ENTRY_A = """
  - name: a
    task: shoal.noop
    queue: {queue}
    every: {every}
    catchUp: all
    startingDeadlineSeconds: 30
"""
ENTRY_B = """
  - name: b
    task: shoal.noop
    queue: rq-b
    every: 1s
"""


def count(client: redis.Redis, queue: str) -> int:
    return len(published(client, queue))


def settles(client: redis.Redis, queue: str, quiet_s: float = 3.0) -> int:
    """Wait until nothing new arrives on ``queue`` for ``quiet_s``; return the final count."""
    last = count(client, queue)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = count(client, queue)
        if now == last:
            return now
        last = now
    raise AssertionError(f"{queue} kept receiving messages")


@pytest.mark.timeout(180)
def test_add_change_and_remove_entries_while_three_replicas_run(
    procs: ProcessTracker, worker_env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    path = tmp_path / "schedules.yaml"
    write_schedules(path, "schedules:" + ENTRY_A.format(queue="rq-a", every="1s"))
    beats = start_beats(procs, worker_env, path, 3)
    wait_for(lambda: count(redis_client, "rq-a") >= 2, timeout_s=30, message="a firing")

    # add b: it starts on its next tick
    write_schedules(path, "schedules:" + ENTRY_A.format(queue="rq-a", every="1s") + ENTRY_B)
    wait_for(lambda: count(redis_client, "rq-b") >= 3, timeout_s=15, message="b firing")

    # change a (queue and interval): the old definition stops, the new one fires
    write_schedules(path, "schedules:" + ENTRY_A.format(queue="rq-a2", every="2s") + ENTRY_B)
    wait_for(lambda: count(redis_client, "rq-a2") >= 3, timeout_s=15, message="changed a")
    settles(redis_client, "rq-a")
    assert all(m.tick_ms % 2000 == 0 for m in published(redis_client, "rq-a2"))

    # remove b: it stops
    write_schedules(path, "schedules:" + ENTRY_A.format(queue="rq-a2", every="2s"))
    b_final = settles(redis_client, "rq-b")

    # a bad edit is refused and the last good schedule keeps running
    a2_before = count(redis_client, "rq-a2")
    write_schedules(
        path, "schedules:" + ENTRY_A.format(queue="rq-a2", every="2s") + "    colour: red\n"
    )
    time.sleep(5)
    assert count(redis_client, "rq-a2") >= a2_before + 2
    assert count(redis_client, "rq-b") == b_final
    assert all(b.alive() for b in beats)
    for beat in beats:
        beat.stop()
    refused = [log_text(b) for b in beats if "schedules reload refused" in log_text(b)]
    assert len(refused) == 3
    assert "'a'.colour: unknown field (check the spelling)" in refused[0]

    # no tick of a was published twice, across both definitions
    a_ticks = [m.tick_ms for m in published(redis_client, "rq-a", "rq-a2")]
    assert len(a_ticks) == len(set(a_ticks))
    b_ticks = [m.tick_ms for m in published(redis_client, "rq-b")]
    assert len(b_ticks) == len(set(b_ticks))
