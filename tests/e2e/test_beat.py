"""The beat Deployment's replicas fire a 1-second entry exactly once per tick, while one of the
replicas (pods) is deleted and replaced."""

from __future__ import annotations

import itertools
import json
import time

import pytest

from tests.e2e.cluster import Cluster, Release, wait_until
from tests.e2e.scenario import two_queues

pytestmark = pytest.mark.e2e

SINK = "e2e-beat-sink"  # a queue nobody consumes: every published tick stays countable


def _ticks(redis: object) -> list[int]:
    raw = redis.lrange(SINK, 0, -1)  # type: ignore[attr-defined]
    return [int(json.loads(m)["headers"]["shoal_beat_tick_ms"]) for m in raw]


@pytest.mark.timeout(600)
def test_beat_replicas_fire_each_tick_exactly_once_while_one_is_deleted(
    cluster: Cluster, release: Release
) -> None:
    beat = {
        "enabled": True,
        "replicas": 2,
        "schedules": [{"name": "every-second", "task": "shoal.noop", "queue": SINK, "every": "1s"}],
    }
    release.install(two_queues(cluster.redis.url, beat=beat))
    runner = release.runner
    assert runner is not None
    wait_until(lambda: len(runner.live("beat")) == 2, timeout_s=90, what="2 local beat processes")
    redis = cluster.redis_client()
    wait_until(lambda: len(_ticks(redis)) >= 5, timeout_s=60, what="the first ticks")

    # Delete one beat pod (the Deployment replaces it) in the middle of the run.
    time.sleep(5)
    victim = sorted(p.metadata.name for p in release.pods("beat"))[0]
    cluster.core.delete_namespaced_pod(victim, cluster.namespace)
    wait_until(
        lambda: (
            victim not in {p.name for p in runner.live("beat")} and len(runner.live("beat")) == 2
        ),
        timeout_s=90,
        what="the deleted beat replaced by a new local process",
    )
    time.sleep(15)
    # Stop firing: scale beat to 0 so the count is final, then compare ticks.
    cluster.apps.patch_namespaced_deployment_scale(
        f"{release.fullname}-beat", cluster.namespace, {"spec": {"replicas": 0}}
    )
    wait_until(lambda: not runner.live("beat"), timeout_s=60, what="beat processes stopped")

    ticks = _ticks(redis)
    assert len(ticks) == len(set(ticks)), "a tick was published twice"
    ordered = sorted(ticks)
    gaps = [(a, b) for a, b in itertools.pairwise(ordered) if b - a != 1000]
    assert gaps == [], f"ticks missing between {gaps}"
    assert len(ticks) >= 25
