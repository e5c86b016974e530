"""Two autoscaler replicas with leader election: only the lease holder acts, and killing it
hands over to the other replica within the lease time."""

from __future__ import annotations

import time
import urllib.request

import pytest

from tests.e2e.cluster import Cluster, Release, wait_until
from tests.e2e.scenario import CPU_QUEUE, IO_QUEUE, client, publish, two_queues

pytestmark = pytest.mark.e2e

LEASE_S = 6


def _leader_gauge(cluster: Cluster, pod: str) -> float | None:
    metrics_port, _ = cluster.autoscaler_ports[pod]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=3) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("shoal_autoscaler_leader"):
            return float(line.split()[-1])
    return None


def _rescales(cluster: Cluster, deployment: str) -> list[tuple[str, str]]:
    """(reportingInstance, message) of the autoscaler's Events on a worker Deployment."""
    items = cluster.core.list_namespaced_event(cluster.namespace).items
    return [
        (e.reporting_instance or "", e.message or "")
        for e in items
        if e.involved_object.name == deployment and e.reason == "SuccessfulRescale"
    ]


@pytest.mark.timeout(600)
def test_only_the_leader_acts_and_killing_it_hands_over(cluster: Cluster, release: Release) -> None:
    values = two_queues(cluster.redis.url, cpu={"maxReplicas": 3, "cooldownSeconds": 600})
    values["autoscaler"]["leaderElection"]["leaseDurationSeconds"] = LEASE_S
    release.install(values)
    runner = release.runner
    assert runner is not None
    wait_until(
        lambda: len(runner.live("autoscaler")) == 2, timeout_s=60, what="2 autoscaler processes"
    )
    leader = wait_until(release.lease_holder, timeout_s=60, what="a lease holder")
    names = {p.name for p in runner.live("autoscaler")}
    assert leader in names
    (follower,) = names - {leader}

    # The holder says it leads, the other says it does not.
    wait_until(lambda: _leader_gauge(cluster, leader) == 1.0, timeout_s=30, what="leader gauge 1")
    wait_until(
        lambda: _leader_gauge(cluster, follower) == 0.0, timeout_s=30, what="follower gauge 0"
    )

    # It acts: idle queues go to zero and a backlog scales a queue up; every change is reported
    # by the leader only.
    wait_until(lambda: release.replicas(IO_QUEUE) == 0, timeout_s=90, what=f"{IO_QUEUE} at 0")
    with client(cluster.redis.url) as app:
        publish(app, CPU_QUEUE, "shoal.slow", [[300, f"long-{i}"] for i in range(400)])
    wait_until(lambda: release.replicas(CPU_QUEUE) == 3, timeout_s=90, what=f"{CPU_QUEUE} at 3")
    events = _rescales(cluster, release.deployment(CPU_QUEUE)) + _rescales(
        cluster, release.deployment(IO_QUEUE)
    )
    assert events, "no SuccessfulRescale Event"
    assert {instance for instance, _ in events} == {leader}, events

    # Kill the leader like a lost node: SIGKILL (it cannot release the lease), pod force-deleted.
    runner.crash(leader)
    cluster.core.delete_namespaced_pod(leader, cluster.namespace, grace_period_seconds=0)
    killed_at = time.monotonic()
    new_leader = wait_until(
        lambda: (h := release.lease_holder()) not in (None, leader) and h,
        timeout_s=LEASE_S + 20,
        what="another replica to take the lease",
    )
    handover_s = time.monotonic() - killed_at
    assert new_leader == follower or new_leader not in names
    assert handover_s <= LEASE_S + 15

    # The new leader acts: a backlog on the idle io queue scales it up, reported by the new leader.
    with client(cluster.redis.url) as app:
        publish(app, IO_QUEUE, "shoal.slow", [[300, f"io-{i}"] for i in range(600)])
    wait_until(
        lambda: release.replicas(IO_QUEUE) >= 2,
        timeout_s=90,
        what=f"{IO_QUEUE} scaled by the new leader",
    )
    late = [
        instance
        for instance, message in _rescales(cluster, release.deployment(IO_QUEUE))
        if message.startswith("New size: ") and not message.startswith("New size: 0")
    ]
    assert new_leader in late
    assert leader not in late
