"""A real shoal worker runs what the beat published: a task, a chain in order, and a group."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.integration.beat.support import start_beats, write_schedules
from tests.support.procs import ProcessTracker, wait_for

SCHEDULES = """
schedules:
  - name: single
    task: shoal.record
    args: [single]
    queue: bw
    priority: 9
    every: 2s
  - name: pipeline
    every: 2s
    queue: bw
    chain:
      - {task: shoal.record, args: [chain-1], immutable: true}
      - {task: shoal.record, args: [chain-2], immutable: true}
      - {task: shoal.record, args: [chain-3], immutable: true}
  - name: fanout
    every: 2s
    queue: bw
    group:
      - {task: shoal.record, args: [group-a]}
      - {task: shoal.record, args: [group-b]}
"""


@pytest.mark.timeout(150)
def test_worker_runs_single_chain_and_group_from_the_beat(
    procs: ProcessTracker, worker_env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    path = tmp_path / "schedules.yaml"
    write_schedules(path, SCHEDULES)
    (beat,) = start_beats(procs, worker_env, path, 1)
    procs.shoal(
        "worker", "--queue", "bw", "--pool", "prefork", "--concurrency", "1",
        env=worker_env, name="worker",
    )  # fmt: skip

    def tags() -> list[str]:
        raw: list[bytes] = redis_client.lrange("shoal:test:record", 0, -1)  # type: ignore[assignment]
        return [e.decode().split("|")[0] for e in raw]

    wait_for(lambda: tags().count("chain-3") >= 2, timeout_s=90, message="two whole chains")
    beat.stop()
    seen = tags()
    for tag in ("single", "group-a", "group-b", "chain-1", "chain-2"):
        assert tag in seen
    # a link is published only when the one before it finished
    firsts = [seen.index(f"chain-{i}") for i in (1, 2, 3)]
    assert firsts == sorted(firsts)
    assert seen.count("chain-1") >= seen.count("chain-2") >= seen.count("chain-3") >= 2
