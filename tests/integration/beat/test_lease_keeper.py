"""The lease thread: a long pass of the loop keeps the lease; a loop that stopped turning
lets it go, so a standby takes over."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from prometheus_client import CollectorRegistry

from scheduler.beat.metrics import BeatMetrics
from scheduler.beat.runner import Beat
from scheduler.beat.settings import BeatSettings
from tests.integration.beat.support import write_schedules


def replica(tmp_path: Path, client: redis.Redis, name: str) -> Beat:
    path = tmp_path / "schedules.yaml"
    write_schedules(path, "schedules: [{name: e, task: t, every: 1m}]")
    settings = BeatSettings(schedules_path=path, lease_s=1.0, metrics_port=0, replica_id=name)
    return Beat(settings, client, metrics=BeatMetrics(CollectorRegistry()))


def test_a_busy_loop_keeps_the_lease_and_a_stalled_one_lets_it_go(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    one, two = replica(tmp_path, redis_client, "one"), replica(tmp_path, redis_client, "two")
    one._keep_lease()
    two._keep_lease()
    assert one._lease_view == (True, 1) and two._lease_view == (False, 0)
    one._alive_at = time.monotonic() - 20  # a 20 s pass: longer than the lease, not a stall
    time.sleep(0.5)
    one._keep_lease()
    assert one._lease_view == (True, 1)
    one._alive_at = time.monotonic() - 60  # stalled: the lease is not renewed
    one._keep_lease()
    assert one._lease_view == (False, 2)
    time.sleep(1.2)  # the lease time
    two._keep_lease()
    assert two._lease_view == (True, 1)
    assert redis_client.get("shoal:beat:leader") == b"two"
