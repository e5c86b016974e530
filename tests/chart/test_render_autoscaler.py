"""The autoscaler's objects: its config has the controller's format, its RBAC is least."""

from __future__ import annotations

import pytest

from tests.chart.helm import (
    NAMESPACE,
    VALUES,
    autoscaler_config,
    deployment_container,
    env_of,
    render,
    workers,
)

MATRIX = sorted(p.name for p in VALUES.glob("*.yaml"))

HPA_SCALE_UP = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Percent", "value": 100, "periodSeconds": 15},
        {"type": "Pods", "value": 4, "periodSeconds": 15},
    ],
}
HPA_SCALE_DOWN = {
    "stabilizationWindowSeconds": 300,
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}
DEFAULTS = {
    "enabled": True,
    "minReplicas": 1,
    "maxReplicas": 10,
    "activationBacklog": 0,
    "cooldownSeconds": 300,
    "podStartupSeconds": 10,
    "failureThreshold": 3,
    "scaleUp": HPA_SCALE_UP,
    "scaleDown": HPA_SCALE_DOWN,
}


def test_autoscaler_config_has_the_controller_format_and_the_values_blocks() -> None:
    cfg = autoscaler_config("multi-queue.yaml")
    assert set(cfg) == {
        "pollIntervalSeconds",
        "namespace",
        "redis",
        "priority",
        "leaderElection",
        "metricsPort",
        "healthPort",
        "queues",
    }
    assert cfg["pollIntervalSeconds"] == 2
    assert cfg["namespace"] == NAMESPACE
    assert cfg["redis"] == {"url": "redis://redis:6379/0"}
    assert cfg["priority"] == {"steps": [0, 3, 6, 9], "separator": "\x06\x16"}
    assert cfg["leaderElection"] == {
        "enabled": True,
        "leaseName": "shoal-autoscaler",
        "leaseDurationSeconds": 15,
    }
    assert (cfg["metricsPort"], cfg["healthPort"]) == (9810, 9811)
    queues = {q["name"]: q for q in cfg["queues"]}
    assert sorted(queues) == ["emails", "reports", "webhooks"]  # billing_charges is fixed
    assert queues["emails"] == {
        "name": "emails",
        "pool": "gevent",
        "concurrency": 300,
        "deployment": "shoal-worker-emails",
        "autoscaling": {
            **DEFAULTS,
            "minReplicas": 2,
            "maxReplicas": 20,
            "targetBacklogPerReplica": 100,
            "fallbackReplicas": 4,
            "scaleUp": {
                **HPA_SCALE_UP,
                "policies": [{"type": "Pods", "value": 2, "periodSeconds": 30}],
            },
        },
    }
    assert queues["reports"]["concurrency"] == 2
    assert queues["reports"]["autoscaling"] == {
        **DEFAULTS,
        "maxReplicas": 8,
        "targetLatencySeconds": 60,
    }
    assert queues["webhooks"]["autoscaling"] == {
        **DEFAULTS,
        "maxReplicas": 5,
        "targetBacklogPerReplica": 500,
        "targetLatencySeconds": 10,
    }


def test_scale_to_zero_keeps_zero_and_overrides_only_what_it_sets() -> None:
    (queue,) = autoscaler_config("scale-to-zero.yaml")["queues"]
    assert queue["autoscaling"] == {
        **DEFAULTS,
        "minReplicas": 0,
        "maxReplicas": 4,
        "targetBacklogPerReplica": 5,
        "cooldownSeconds": 600,
        "scaleDown": {
            "stabilizationWindowSeconds": 600,
            "selectPolicy": "Min",
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
        },
    }
    assert "replicas" not in workers("scale-to-zero.yaml")["nightly"]["spec"]


def test_autoscaler_deployment_runs_the_controller_with_leader_election() -> None:
    rendered = render("minimal.yaml")
    dep = rendered.get("Deployment", "shoal-autoscaler")
    assert dep["spec"]["replicas"] == 2
    c = deployment_container(dep)
    assert c["args"] == [
        "autoscaler",
        "--config",
        "/etc/shoal/autoscaler.yaml",
        "--actuator",
        "kubernetes",
    ]
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"metrics": 9810, "health": 9811}
    pod = dep["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "shoal-autoscaler"
    assert "checksum/config" in dep["spec"]["template"]["metadata"]["annotations"]


def rules_of(values: str) -> list[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    role = render(values).get("Role", "shoal-autoscaler")
    return [
        (
            ",".join(r["apiGroups"]),
            tuple(r["resources"]),
            tuple(r["verbs"]),
            tuple(r.get("resourceNames", ())),
        )
        for r in role["rules"]
    ]


def test_autoscaler_role_grants_exactly_what_the_controller_needs() -> None:
    assert rules_of("multi-queue.yaml") == [
        ("apps", ("deployments",), ("get", "list", "watch"), ()),
        (
            "apps",
            ("deployments/scale",),
            ("get", "patch"),
            ("shoal-worker-reports", "shoal-worker-emails", "shoal-worker-webhooks"),
        ),
        ("", ("pods",), ("list", "patch"), ()),
        ("", ("events",), ("create",), ()),
        ("events.k8s.io", ("events",), ("create",), ()),
        ("coordination.k8s.io", ("leases",), ("create",), ()),
        ("coordination.k8s.io", ("leases",), ("get", "update"), ("shoal-autoscaler",)),
    ]
    rendered = render("multi-queue.yaml")
    assert not rendered.of_kind("ClusterRole") and not rendered.of_kind("ClusterRoleBinding")
    binding = rendered.get("RoleBinding", "shoal-autoscaler")
    assert binding["roleRef"]["name"] == "shoal-autoscaler"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "shoal-autoscaler", "namespace": NAMESPACE}
    ]


@pytest.mark.parametrize("values", [v for v in MATRIX if v != "beat-off.yaml"])
def test_the_real_controller_accepts_the_rendered_config(values: str) -> None:
    from scheduler.autoscaler.config import parse_config

    cfg = autoscaler_config(values)
    parsed = parse_config(cfg)
    assert parsed.namespace == NAMESPACE
    assert [q.name for q in parsed.queues] == [q["name"] for q in cfg["queues"]]
    deps = workers(values)
    for policy in parsed.queues:
        env = env_of(deployment_container(deps[policy.name]))
        assert policy.deployment == deps[policy.name]["metadata"]["name"]
        assert policy.concurrency == int(env["SHOAL_CONCURRENCY"])
        assert policy.pool.value == env["SHOAL_POOL"]
        assert "replicas" not in deps[policy.name]["spec"]
