"""Redis unavailable for 30 s during a run: the autoscaler holds the replicas (a failed observation
never lowers them), nothing scales down, and everything recovers by itself when Redis returns."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from tests.e2e.cluster import Cluster, Release, ReplicaSampler, wait_until
from tests.e2e.scenario import (
    CPU_QUEUE,
    IO_QUEUE,
    RECORD_LIST,
    client,
    publish,
    publish_records,
    two_queues,
)
from tests.support.redis_server import RedisServer
from tests.support.tools import require_tool

pytestmark = pytest.mark.e2e

OUTAGE_S = 30.0


@pytest.fixture
def own_redis(cluster: Cluster, tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis for this test only (it is stopped and restarted), with its data kept across."""
    server = RedisServer(require_tool("redis-server"), tmp_path / "redis-outage")
    server.start()
    cluster.redis = server
    try:
        yield server
    finally:
        for runner in cluster.runners:  # workers first, while Redis is still there
            runner.stop()
        server.stop()


@pytest.mark.timeout(900)
def test_redis_outage_holds_replicas_and_recovers(
    cluster: Cluster, release: Release, own_redis: RedisServer
) -> None:
    values = two_queues(
        own_redis.url, cpu={"maxReplicas": 2, "targetBacklogPerReplica": 10, "cooldownSeconds": 20}
    )
    release.install(values)
    runner = release.runner
    assert runner is not None

    # A long backlog keeps the cpu queue busy at maxReplicas=2 (4 slots, 20 s tasks).
    with client(own_redis.url) as app:
        publish(app, CPU_QUEUE, "shoal.slow", [[20, f"slow-{i}"] for i in range(100)])
    wait_until(
        lambda: release.replicas(CPU_QUEUE) == 2, timeout_s=90, what="2 replicas before the outage"
    )
    wait_until(lambda: len(runner.live("worker")) == 2, timeout_s=90, what="2 local workers")
    restarts_before = runner.count("restart", "autoscaler")

    # Redis goes away for 30 s (SHUTDOWN SAVE keeps the backlog for the restart).
    with ReplicaSampler(release, CPU_QUEUE) as sampler:
        own_redis.client().shutdown(save=True)
        own_redis.stop()
        down_at = time.monotonic()
        time.sleep(OUTAGE_S)
        assert release.replicas(CPU_QUEUE) == 2
        own_redis.start()
        up_at = time.monotonic()
        # Recovery: the autoscaler observes again (the io queue scales up from zero for new work),
        # and the workers that lived through the outage consume again.
        backlog_after_restart = _backlog(own_redis)
        with client(own_redis.url) as app:
            publish_records(app, IO_QUEUE, [f"after-{i}" for i in range(50)], seconds=0.05)
        wait_until(
            lambda: release.replicas(IO_QUEUE) >= 1,
            timeout_s=90,
            what="io queue scaled up after recovery",
        )
        r = own_redis.client()
        wait_until(
            lambda: r.llen(RECORD_LIST) >= 50, timeout_s=180, what="new tasks ran after recovery"
        )
        wait_until(
            lambda: _backlog(own_redis) < backlog_after_restart,
            timeout_s=120,
            what="the cpu backlog to drain again",
        )

    during = [n for t, n in sampler.samples if down_at <= t <= up_at + 5]
    assert during and min(during) == 2, sampler.samples
    assert min(n for _, n in sampler.samples) == 2  # nothing scaled down at any time
    assert runner.count("restart", "autoscaler") == restarts_before  # held without crashing


def _backlog(server: RedisServer) -> int:
    client_ = redis_lib.Redis(port=server.port)
    try:
        return int(client_.llen(CPU_QUEUE))
    finally:
        client_.close()
