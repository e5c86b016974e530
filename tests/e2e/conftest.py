"""Fixtures for the end-to-end scenarios: a real control plane (session), real helm, real Redis,
and the pod runner that turns Running pods into local shoal processes (per test)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from tests.e2e.cluster import Cluster, Release
from tests.e2e.controlplane import ControlPlane, build_tools
from tests.support.redis_server import RedisServer
from tests.support.tools import require_tool


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    require_tool("openssl")
    bin_dir = build_tools()
    plane = ControlPlane(bin_dir=bin_dir, workdir=tmp_path_factory.mktemp("kube"))
    try:
        plane.start()
        yield plane
    except BaseException:
        sys.stderr.write(plane.logs())
        raise
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def kube_api(control_plane: ControlPlane) -> Iterator[k8s.ApiClient]:
    api = k8s_config.new_client_from_config(config_file=str(control_plane.admin_kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def cluster(
    control_plane: ControlPlane,
    kube_api: k8s.ApiClient,
    redis_server: RedisServer,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> Iterator[Cluster]:
    """A fresh namespace per test, helm, and a pod runner for the test's release."""
    helm = require_tool("helm")
    namespace = "e2e-" + request.node.name.replace("_", "-").lower()[:40].strip("-")
    cluster = Cluster(
        plane=control_plane,
        api=kube_api,
        helm=helm,
        namespace=namespace,
        redis=redis_server,
        workdir=tmp_path,
    )
    redis_server.client().flushall()
    cluster.create_namespace()
    try:
        yield cluster
    finally:
        cluster.teardown()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            sys.stderr.write(cluster.logs())


@pytest.fixture
def release(cluster: Cluster) -> Release:
    return cluster.release("shoal")
