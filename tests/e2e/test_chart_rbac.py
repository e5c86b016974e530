"""helm install/upgrade of charts/shoal on a real API server, and the autoscaler's RBAC."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster, Release, wait_until
from tests.e2e.controlplane import token_subject
from tests.e2e.scenario import CPU_QUEUE, IO_QUEUE, client, publish, two_queues

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(600)
def test_install_then_upgrade_is_picked_up_without_restart_and_keeps_replicas(
    cluster: Cluster, release: Release
) -> None:
    values = two_queues(cluster.redis.url, cpu={"maxReplicas": 2, "cooldownSeconds": 600})
    release.install(values)
    runner = release.runner
    assert runner is not None

    # Both worker Deployments exist; the autoscaler manages both (their replicas are its own).
    for queue in (CPU_QUEUE, IO_QUEUE):
        deployment = cluster.apps.read_namespaced_deployment(
            release.deployment(queue), cluster.namespace
        )
        assert deployment.metadata.annotations["shoal.io/autoscaled"] == "true"
    # Two autoscaler pods run as local processes; one of them holds the lease.
    wait_until(
        lambda: len(runner.live("autoscaler")) == 2, timeout_s=60, what="2 autoscaler processes"
    )
    holder = wait_until(release.lease_holder, timeout_s=60, what="a lease holder")
    assert holder in {p.name for p in runner.live("autoscaler")}

    # Idle queues with minReplicas 0 go to zero.
    wait_until(
        lambda: release.replicas(IO_QUEUE) == 0, timeout_s=90, what=f"{IO_QUEUE} at 0 replicas"
    )

    # A steady backlog of long tasks: the policy caps the cpu queue at maxReplicas=2.
    with client(cluster.redis.url) as app:
        publish(app, CPU_QUEUE, "shoal.slow", [[300, f"long-{i}"] for i in range(400)])
    wait_until(
        lambda: release.replicas(CPU_QUEUE) == 2, timeout_s=90, what=f"{CPU_QUEUE} at 2 replicas"
    )
    wait_until(
        lambda: len(runner.live("worker")) == 2, timeout_s=60, what="2 local worker processes"
    )
    pids_before = {p.name: p.proc.pid for p in runner.live("autoscaler")}

    # Upgrade 1 changes a policy field that does not change the count: replicas stay at 2
    # (the chart leaves `replicas` to the autoscaler, so helm does not reset it to 1).
    values["queues"][0]["autoscaling"]["cooldownSeconds"] = 900
    release.upgrade(values)
    for _ in range(10):
        assert release.replicas(CPU_QUEUE) == 2
        time.sleep(0.5)

    # Upgrade 2 raises maxReplicas: the running autoscaler reloads its config and scales to 3.
    values["queues"][0]["autoscaling"]["maxReplicas"] = 3
    release.upgrade(values)
    assert release.autoscaler_config()["queues"][0]["autoscaling"]["maxReplicas"] == 3
    wait_until(
        lambda: release.replicas(CPU_QUEUE) == 3,
        timeout_s=90,
        what=f"{CPU_QUEUE} at 3 after upgrade",
    )

    # Without a restart: the same autoscaler processes, never restarted, same pods.
    assert {p.name: p.proc.pid for p in runner.live("autoscaler")} == pids_before
    assert runner.count("restart", "autoscaler") == 0


# (verb, resource, allowed) for `kubectl auth can-i` as the autoscaler's ServiceAccount.
def _matrix(release: Release) -> list[tuple[list[str], bool]]:
    cpu = release.deployment(CPU_QUEUE)
    lease = release.autoscaler_config()["leaderElection"]["leaseName"]
    return [
        # what the controller needs
        (["get", "deployments.apps"], True),
        (["list", "deployments.apps"], True),
        (["watch", "deployments.apps"], True),
        (["get", f"deployments.apps/{cpu}", "--subresource=scale"], True),
        (["patch", f"deployments.apps/{cpu}", "--subresource=scale"], True),
        (["list", "pods"], True),
        (["patch", "pods"], True),
        (["create", "events"], True),
        (["create", "events.events.k8s.io"], True),
        (["create", "leases.coordination.k8s.io"], True),
        (["get", f"leases.coordination.k8s.io/{lease}"], True),
        (["update", f"leases.coordination.k8s.io/{lease}"], True),
        # and nothing more
        (
            ["patch", f"deployments.apps/{release.fullname}-autoscaler", "--subresource=scale"],
            False,
        ),
        (["patch", "deployments.apps"], False),
        (["update", "deployments.apps"], False),
        (["create", "deployments.apps"], False),
        (["delete", "deployments.apps"], False),
        (["delete", "pods"], False),
        (["create", "pods"], False),
        (["create", "pods/exec"], False),
        (["get", "secrets"], False),
        (["list", "secrets"], False),
        (["list", "configmaps"], False),
        (["update", "leases.coordination.k8s.io/some-other-lease"], False),
        (["delete", f"leases.coordination.k8s.io/{lease}"], False),
        (["list", "deployments.apps", "-n", "kube-system"], False),
        (["list", "nodes"], False),
        (["create", "roles.rbac.authorization.k8s.io"], False),
        (["*", "*"], False),
    ]


@pytest.mark.timeout(300)
def test_autoscaler_service_account_can_do_what_it_needs_and_nothing_more(
    cluster: Cluster, release: Release, tmp_path: Path
) -> None:
    release.install(two_queues(cluster.redis.url), run_pods=False)
    account = f"{release.fullname}-autoscaler"
    kubeconfig = cluster.plane.service_account_kubeconfig(
        cluster.namespace, account, tmp_path / "sa.kubeconfig"
    )
    token = kubeconfig.read_text().split("token: ")[1].split()[0]
    assert token_subject(token) == f"system:serviceaccount:{cluster.namespace}:{account}"

    wrong: list[str] = []
    for args, allowed in _matrix(release):
        done = cluster.plane.kubectl("auth", "can-i", *args, kubeconfig=kubeconfig, check=False)
        answer = done.stdout.strip()
        if answer not in ("yes", "no"):
            raise AssertionError(f"kubectl auth can-i {args}: {done.stdout} {done.stderr}")
        if (answer == "yes") != allowed:
            wrong.append(
                f"can-i {' '.join(args)} -> {answer}, expected {'yes' if allowed else 'no'}"
            )
    assert wrong == []

    # The token really authenticates as that account against the API (not only in a review).
    done = cluster.plane.kubectl("get", "secrets", kubeconfig=kubeconfig, check=False)
    assert done.returncode != 0 and "Forbidden" in done.stderr, done.stderr
    done = cluster.plane.kubectl("get", "deployments", kubeconfig=kubeconfig, check=False)
    assert done.returncode == 0 and release.deployment(CPU_QUEUE) in done.stdout
