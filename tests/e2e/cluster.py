"""One test's view of the cluster: its namespace, helm releases of charts/shoal, the pod runner
that turns the release's Running pods into local shoal processes, and small queries."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis as redis_lib
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from tests.e2e.controlplane import ControlPlane
from tests.e2e.podrunner import PodRunner
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer
from tests.support.tools import ROOT

CHART = ROOT / "charts" / "shoal"
AUTOSCALER_CONFIG_KEYS = ("pollIntervalSeconds", "queues", "leaderElection")


def wait_until(
    predicate: Callable[[], Any], *, timeout_s: float, interval_s: float = 0.5, what: str
) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout_s:.0f}s waiting for {what} (last: {last!r})"
            )
        time.sleep(interval_s)


@dataclass
class Cluster:
    plane: ControlPlane
    api: k8s.ApiClient
    helm: str
    namespace: str
    redis: RedisServer
    workdir: Path
    runners: list[PodRunner] = field(default_factory=list)
    releases: list[str] = field(default_factory=list)
    # autoscaler pod name -> (metricsPort, healthPort) of its local process
    autoscaler_ports: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self.api)

    @property
    def apps(self) -> k8s.AppsV1Api:
        return k8s.AppsV1Api(self.api)

    @property
    def coordination(self) -> k8s.CoordinationV1Api:
        return k8s.CoordinationV1Api(self.api)

    def redis_client(self) -> redis_lib.Redis:
        return redis_lib.Redis(port=self.redis.port, decode_responses=True)

    def create_namespace(self) -> None:
        self.core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=self.namespace)))
        # The namespace's default ServiceAccount comes from the controller-manager; pods need it.
        wait_until(
            lambda: self.core.list_namespaced_service_account(self.namespace).items,
            timeout_s=60,
            what=f"the default ServiceAccount in {self.namespace}",
        )

    def release(self, name: str) -> Release:
        return Release(self, name)

    def run_helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [
                self.helm,
                *args,
                "--kubeconfig",
                str(self.plane.admin_kubeconfig),
                "--namespace",
                self.namespace,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"helm {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return done

    def start_runner(self, release: str) -> PodRunner:
        ports = self.autoscaler_ports

        def autoscaler_hook(pod: Any, argv: list[str], env: dict[str, str], pod_dir: Path):  # type: ignore[no-untyped-def]
            account = pod.spec.service_account_name
            kubeconfig = self.plane.service_account_kubeconfig(
                self.namespace, account, pod_dir / "kubeconfig"
            )
            env["KUBECONFIG"] = str(kubeconfig)
            return argv, env

        def autoscaler_files(pod_name: str, file_name: str, text: str) -> str:
            data = yaml.safe_load(text)
            if not isinstance(data, dict) or not all(k in data for k in AUTOSCALER_CONFIG_KEYS):
                return text
            metrics, health = ports.setdefault(pod_name, (free_port(), free_port()))
            data["metricsPort"], data["healthPort"] = metrics, health
            return yaml.safe_dump(data, sort_keys=False)

        def free_ports(pod: Any, argv: list[str], env: dict[str, str], pod_dir: Path):  # type: ignore[no-untyped-def]
            for key in ("SHOAL_METRICS_PORT", "SHOAL_HEALTH_PORT"):
                if key in env:
                    env[key] = "0"
            return argv, env

        def beat_hook(pod: Any, argv: list[str], env: dict[str, str], pod_dir: Path):  # type: ignore[no-untyped-def]
            # `shoal beat` takes its metrics port as a flag (default 9812): two local replicas
            # would collide on it, so turn the listener off here.
            argv, env = free_ports(pod, argv, env, pod_dir)
            return [*argv, "--metrics-port=0"], env

        runner = PodRunner(
            api=self.core,
            namespace=self.namespace,
            label_selector=f"app.kubernetes.io/instance={release}",
            workdir=self.workdir / f"pods-{release}",
            base_env=_base_env(self.workdir),
            hooks={"worker": free_ports, "beat": beat_hook, "autoscaler": autoscaler_hook},
            file_filters={"autoscaler": autoscaler_files},
        )
        runner.start()
        self.runners.append(runner)
        return runner

    def teardown(self) -> None:
        for runner in self.runners:
            runner.stop()
        for name in self.releases:
            self.run_helm("uninstall", name, "--wait", "--timeout", "60s", check=False)
        with contextlib.suppress(ApiException):
            self.core.delete_namespace(self.namespace)

    def logs(self) -> str:
        state = self.plane.kubectl(
            "get", "deploy,rs,pods,lease", "-o", "wide", "-n", self.namespace, check=False
        )
        events = self.plane.kubectl("get", "events", "-n", self.namespace, check=False)
        return f"{state.stdout}{state.stderr}\n{events.stdout[-6000:]}\n" + "\n".join(
            r.logs(chars=6000) + "\nrunner errors: " + repr(r.errors[-5:]) for r in self.runners
        )


def _base_env(tmp: Path) -> dict[str, str]:
    import os

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SHOAL_", "KUBERNETES_", "KUBECONFIG", "POD_"))
    }
    env.update(PYTHONPATH=str(ROOT), SHOAL_E2E="1")
    return env


def queue_slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


@dataclass
class Release:
    cluster: Cluster
    name: str
    runner: PodRunner | None = None
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def fullname(self) -> str:
        return self.name if "shoal" in self.name else f"{self.name}-shoal"

    def deployment(self, queue: str) -> str:
        return f"{self.fullname}-worker-{queue_slug(queue)}"

    def _values_file(self, values: dict[str, Any]) -> Path:
        path = self.cluster.workdir / f"values-{self.name}-{int(time.monotonic() * 1000)}.yaml"
        path.write_text(yaml.safe_dump(values, sort_keys=False))
        return path

    def install(self, values: dict[str, Any], *, run_pods: bool = True) -> None:
        self.values = values
        self.cluster.run_helm(
            "install",
            self.name,
            str(CHART),
            "-f",
            str(self._values_file(values)),
            "--wait",
            "--timeout",
            "180s",
        )
        self.cluster.releases.append(self.name)
        if run_pods:
            self.runner = self.cluster.start_runner(self.name)

    def upgrade(self, values: dict[str, Any]) -> None:
        self.values = values
        self.cluster.run_helm(
            "upgrade",
            self.name,
            str(CHART),
            "-f",
            str(self._values_file(values)),
            "--wait",
            "--timeout",
            "180s",
        )

    # ------------------------------------------------------------ queries
    def replicas(self, queue: str) -> int:
        scale = self.cluster.apps.read_namespaced_deployment_scale(
            self.deployment(queue), self.cluster.namespace
        )
        return int(scale.spec.replicas or 0)

    def pods(
        self, component: str, *, queue: str | None = None, running_only: bool = True
    ) -> list[Any]:
        selector = f"app.kubernetes.io/instance={self.name},app.kubernetes.io/component={component}"
        if queue is not None:
            selector += f",shoal.io/queue={queue_slug(queue)}"
        items = self.cluster.core.list_namespaced_pod(
            self.cluster.namespace, label_selector=selector
        ).items
        if running_only:
            items = [
                p
                for p in items
                if p.status.phase == "Running" and p.metadata.deletion_timestamp is None
            ]
        return list(items)

    def autoscaler_config(self) -> dict[str, Any]:
        cm = self.cluster.core.read_namespaced_config_map(
            f"{self.fullname}-autoscaler", self.cluster.namespace
        )
        return dict(yaml.safe_load(cm.data["autoscaler.yaml"]))

    def lease_holder(self) -> str | None:
        name = self.autoscaler_config()["leaderElection"]["leaseName"]
        try:
            lease = self.cluster.coordination.read_namespaced_lease(name, self.cluster.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return lease.spec.holder_identity or None

    def events(self, reason_prefix: str = "") -> list[Any]:
        items = self.cluster.core.list_namespaced_event(self.cluster.namespace).items
        return [e for e in items if (e.reason or "").startswith(reason_prefix)]


class ReplicaSampler:
    """Samples a queue's Deployment replicas in the background (min, max and the whole series)."""

    def __init__(self, release: Release, queue: str, interval_s: float = 0.5) -> None:
        import threading

        self.release = release
        self.queue = queue
        self.interval_s = interval_s
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ReplicaSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                self.samples.append((time.monotonic(), self.release.replicas(self.queue)))
            self._stop.wait(self.interval_s)

    def values(self) -> list[int]:
        return [n for _, n in self.samples]
