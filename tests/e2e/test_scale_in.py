"""Scale-in removes idle pods first (pod-deletion-cost from the in-flight counts) while the pods
busy with long tasks keep running until those tasks finish."""

from __future__ import annotations

import pytest

from contract.inflight import decode as decode_inflight
from contract.keys import inflight
from tests.e2e.cluster import Cluster, Release, wait_until
from tests.e2e.scenario import CPU_QUEUE, RECORD_LIST, client, publish_records, two_queues

pytestmark = pytest.mark.e2e

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
LONG_S = 45.0


@pytest.mark.timeout(600)
def test_scale_in_removes_idle_pods_and_long_tasks_finish(
    cluster: Cluster, release: Release
) -> None:
    values = two_queues(
        cluster.redis.url,
        cpu={"maxReplicas": 4, "targetBacklogPerReplica": 10, "cooldownSeconds": 30},
    )
    values["queues"][0]["concurrency"] = 1
    values["queues"][0]["drainTimeoutSeconds"] = int(LONG_S) + 30
    release.install(values)
    runner = release.runner
    assert runner is not None
    wait_until(lambda: release.replicas(CPU_QUEUE) == 0, timeout_s=120, what="idle queue at 0")
    wait_until(lambda: not runner.live("worker"), timeout_s=60, what="no local workers")

    redis = cluster.redis_client()
    long_tags = ["long-0", "long-1"]
    with client(cluster.redis.url) as app:
        # Two long tasks first, then enough short ones to need 4 replicas.
        publish_records(app, CPU_QUEUE, long_tags, seconds=LONG_S)
        publish_records(app, CPU_QUEUE, [f"short-{i}" for i in range(60)], seconds=0.2)

    wait_until(lambda: release.replicas(CPU_QUEUE) == 4, timeout_s=90, what="4 replicas")
    wait_until(lambda: len(runner.live("worker")) == 4, timeout_s=120, what="4 local workers")
    # The short tasks drain; the two long tasks are held by two workers.
    wait_until(
        lambda: sum(1 for e in redis.lrange(RECORD_LIST, 0, -1) if e.startswith("short-")) == 60,
        timeout_s=180,
        what="60 short tasks done",
    )

    # Workers report their in-flight counts every heartbeat: wait for the idle ones to say 0.
    def two_busy() -> set[str]:
        busy = _busy_workers(redis)
        return busy if len(busy) == 2 else set()

    busy = wait_until(two_busy, timeout_s=45, what="exactly 2 busy workers in the in-flight hash")
    idle_pods = {p.metadata.name for p in release.pods("worker", queue=CPU_QUEUE)} - busy
    assert len(idle_pods) == 2

    # The in-flight floor is ceil(2 / 1) = 2: the autoscaler scales in to 2, idle pods first.
    wait_until(lambda: release.replicas(CPU_QUEUE) == 2, timeout_s=90, what="scale-in to 2")
    remaining = wait_until(
        lambda: (
            (names := {p.metadata.name for p in release.pods("worker", queue=CPU_QUEUE)}) == busy
            and names
        ),
        timeout_s=60,
        what="only the busy pods left",
    )
    assert remaining == busy

    # The long tasks were not interrupted: each finished exactly once.
    wait_until(
        lambda: sum(1 for e in redis.lrange(RECORD_LIST, 0, -1) if e.startswith("long-")) >= 2,
        timeout_s=LONG_S + 60,
        what="the long tasks to finish",
    )
    longs = sorted(
        e.split("|")[0] for e in redis.lrange(RECORD_LIST, 0, -1) if e.startswith("long-")
    )
    assert longs == long_tags
    assert runner.count("kill", "worker") == 0


def _busy_workers(redis: object) -> set[str]:
    import time

    now_ms = int(time.time() * 1000)
    raw = redis.hgetall(inflight(CPU_QUEUE))  # type: ignore[attr-defined]
    return {worker for worker, value in raw.items() if decode_inflight(value, now_ms) > 0}
