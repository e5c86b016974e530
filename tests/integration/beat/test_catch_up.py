"""A beat stopped for five minutes and restarted: what catchUp none, latest and all fire.

The outage is simulated with an injected clock (``tests.support.beat_ahead``): the restarted
replica's clock runs 300+ s ahead of the first one's, exactly as if it had come back
five minutes later, without the test waiting five real minutes. The offset is chosen so the
restart lands 8 s after a tick of the 20 s entry: that tick is late (missed), the next one is
12 s away, so the first pass after the restart is the only one that fires gap ticks.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import redis

from tests.integration.beat.support import published, start_beats, state, write_schedules
from tests.support.procs import ProcessTracker, wait_for

INTERVAL_MS = 20_000
DEADLINE_S = 60


@pytest.mark.timeout(150)
@pytest.mark.parametrize("catch_up", ["none", "latest", "all"])
def test_restart_after_five_minutes_follows_the_catch_up_policy(
    catch_up: str,
    procs: ProcessTracker,
    worker_env: dict[str, str],
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    path = tmp_path / "schedules.yaml"
    deadline = f"\n    startingDeadlineSeconds: {DEADLINE_S}" if catch_up == "all" else ""
    write_schedules(
        path,
        f"""
schedules:
  - name: report
    task: shoal.noop
    queue: cq
    every: 20s
    catchUp: {catch_up}{deadline}
""",
    )
    (first,) = start_beats(procs, worker_env, path, 1, name="before")
    wait_for(lambda: published(redis_client, "cq"), timeout_s=40, message="a first tick")
    first.stop()
    before = published(redis_client, "cq")
    last_ms = int(state(redis_client, "report")["last_tick_ms"])
    assert [m.tick_ms for m in before] == [last_ms]

    now = time.time()
    offset = 300 + (8 - (now + 300) % 20) % 20  # restart 8 s after a tick, 5+ minutes later
    restart_ms = int((now + offset) * 1000)
    newest_gap = restart_ms // INTERVAL_MS * INTERVAL_MS
    assert restart_ms - last_ms >= 300_000
    second = procs.start(
        [sys.executable, "-m", "tests.support.beat_ahead", f"{offset:.3f}", "--schedules",
         str(path), "--metrics-port", "0"],
        env=worker_env,
        name="after",
    )  # fmt: skip
    wait_for(
        lambda: int(state(redis_client, "report")["last_tick_ms"]) >= newest_gap,
        timeout_s=15,
        message="the first pass after the restart",
    )
    second.stop()

    fired = [m for m in published(redis_client, "cq") if m.tick_ms > last_ms]
    gap_ticks = list(range(last_ms + INTERVAL_MS, newest_gap + 1, INTERVAL_MS))
    assert len(gap_ticks) >= 14  # five minutes of a 20 s entry
    ticks = [m.tick_ms for m in fired]
    if catch_up == "none":
        assert ticks == []
    elif catch_up == "latest":
        assert ticks == [newest_gap]
    else:
        published_ms = int(datetime.fromisoformat(fired[0].published_at).timestamp() * 1000)
        expected = [t for t in gap_ticks if published_ms - t <= DEADLINE_S * 1000]
        assert ticks == expected
        assert len(expected) >= 2 and expected[-1] == newest_gap
    assert int(state(redis_client, "report")["run_count"]) == 1 + len(ticks)
