"""The install commands need a cluster, but what they install is rendered here: the values files
the docs install with pass the chart's schema, and the example overlay builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from tests.docs.sandbox import Sandbox
from tests.docs.test_docs_commands import NOT_RUN_HERE
from tests.support.procs import ProcessTracker
from tests.support.redis_server import RedisServer

RENDER_INSTEAD = {
    "helm install shoal charts/shoal -n shoal -f values-prod.yaml": (
        "helm template shoal charts/shoal -n shoal -f values-prod.yaml"
    ),
    "helm install shoal charts/shoal -n shoal -f my-values.yaml": (
        "helm template shoal charts/shoal -n shoal -f my-values.yaml"
    ),
    "kubectl kustomize k8s/overlays/example | kubectl apply -f -": (
        "kubectl kustomize k8s/overlays/example"
    ),
}
"""A command that needs a cluster -> the command that renders what it would apply."""

WORKERS = {
    "values-prod.yaml": ["shoal-worker-celery"],
    "my-values.yaml": ["shoal-worker-emails", "shoal-worker-reports"],
    "k8s/overlays/example": ["shoal-worker-celery"],
}


@pytest.fixture
def sandbox(
    tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis, procs: ProcessTracker
) -> Sandbox:
    work = tmp_path / "work"
    work.mkdir()
    return Sandbox.create(work, redis_url=redis_server.url, client=redis_client, procs=procs)


def worker_deployments(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"].startswith("shoal-worker-")
    }


@pytest.mark.parametrize("installs", sorted(RENDER_INSTEAD))
def test_what_a_cluster_command_applies_renders_here(installs: str, sandbox: Sandbox) -> None:
    assert installs in NOT_RUN_HERE
    command = RENDER_INSTEAD[installs]
    objects = [o for o in yaml.safe_load_all(sandbox.ok(command, timeout_s=60)) if o]
    workers = worker_deployments(objects)
    source = command.split()[-1]
    assert sorted(workers) == WORKERS[source]
    if source == "k8s/overlays/example":  # what docs/install.md says the overlay changes
        beat = next(
            o for o in objects if (o["kind"], o["metadata"]["name"]) == ("Deployment", "shoal-beat")
        )
        assert beat["spec"]["replicas"] == 3
        container = workers["shoal-worker-celery"]["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "registry.example.com/platform/shoal:0.1.0"
        assert workers["shoal-worker-celery"]["metadata"]["labels"]["team"] == "platform"
        return
    for deployment in workers.values():  # the Secret the docs create first
        volumes = deployment["spec"]["template"]["spec"].get("volumes", [])
        assert [v["secret"]["secretName"] for v in volumes if "secret" in v] == ["shoal-redis"]
    if source == "my-values.yaml":
        assert workers["shoal-worker-reports"]["spec"]["replicas"] == 2
        assert "replicas" not in workers["shoal-worker-emails"]["spec"]  # autoscaled
