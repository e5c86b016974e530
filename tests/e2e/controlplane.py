"""A real Kubernetes control plane as local processes on loopback: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok (fake nodes that mark scheduled pods Running).

Everything lives in one temporary folder; every process is started in its own session and stopped
by its own pid (SIGTERM, then SIGKILL), also when startup fails half way.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.e2e.pki import CertPair, Pki, make_pki
from tests.support.ports import free_port
from tests.support.tools import ROOT

TOOLS_SCRIPT = ROOT / "scripts" / "e2e-tools.sh"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"


def build_tools() -> Path:
    """Run scripts/e2e-tools.sh (a no-op when cached) and return the binary folder."""
    done = subprocess.run(
        ["bash", str(TOOLS_SCRIPT)], capture_output=True, text=True, timeout=7200, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"scripts/e2e-tools.sh failed ({done.returncode}):\n{done.stderr[-4000:]}"
        )
    return Path(done.stdout.strip().splitlines()[-1])


def write_kubeconfig(
    path: Path,
    server: str,
    ca: Path,
    *,
    user: str,
    client: CertPair | None = None,
    token: str | None = None,
    namespace: str = "default",
) -> Path:
    user_entry: dict[str, str] = {}
    if client is not None:
        user_entry = {"client-certificate": str(client.cert), "client-key": str(client.key)}
    if token is not None:
        user_entry = {"token": token}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "e2e", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [{"name": user, "user": user_entry}],
        "contexts": [
            {"name": "e2e", "context": {"cluster": "e2e", "user": user, "namespace": namespace}}
        ],
        "current-context": "e2e",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@dataclass
class Daemon:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace_s: float = 10.0) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@dataclass
class ControlPlane:
    """Start with :meth:`start`, always :meth:`stop` (the fixture does both)."""

    bin_dir: Path
    workdir: Path
    nodes: int = 3
    daemons: list[Daemon] = field(default_factory=list)
    pki: Pki | None = None
    apiserver_port: int = 0
    admin_kubeconfig: Path = Path()

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pki = pki = make_pki(self.workdir / "pki")
        self.apiserver_port = free_port()
        self.admin_kubeconfig = write_kubeconfig(
            self.workdir / "admin.kubeconfig",
            self.server,
            pki.ca.cert,
            user="admin",
            client=pki.admin,
        )
        etcd_url = self._start_etcd()
        self._start_apiserver(etcd_url)
        self._wait_ready()
        kcm_cfg = write_kubeconfig(
            self.workdir / "kcm.kubeconfig",
            self.server,
            pki.ca.cert,
            user="kcm",
            client=pki.controller_manager,
        )
        sched_cfg = write_kubeconfig(
            self.workdir / "scheduler.kubeconfig",
            self.server,
            pki.ca.cert,
            user="sched",
            client=pki.scheduler,
        )
        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={kcm_cfg}",
                f"--authentication-kubeconfig={kcm_cfg}",
                f"--authorization-kubeconfig={kcm_cfg}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                "--controllers=*",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki.sa_private_key}",
                f"--root-ca-file={pki.ca.cert}",
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
                # kwok's heartbeats can lag on a loaded machine; fake nodes must not flap NotReady.
                "--node-monitor-grace-period=300s",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                f"--kubeconfig={sched_cfg}",
                f"--authentication-kubeconfig={sched_cfg}",
                f"--authorization-kubeconfig={sched_cfg}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
            ],
        )
        self._spawn(
            "kwok",
            [
                f"--kubeconfig={self.admin_kubeconfig}",
                "--manage-all-nodes=true",
                "--cidr=10.244.0.1/16",
                "--node-ip=127.0.0.1",
                f"--server-address=127.0.0.1:{free_port()}",
            ],
        )
        self._create_nodes()

    def stop(self) -> None:
        for daemon in reversed(self.daemons):
            daemon.stop()
        self.daemons.clear()

    def logs(self) -> str:
        return "\n".join(f"--- {d.name} (pid {d.popen.pid})\n{d.tail()}" for d in self.daemons)

    # ---------------------------------------------------------------- pieces
    def _spawn(self, name: str, args: Sequence[str]) -> Daemon:
        log = self.workdir / f"{name}.log"
        with open(log, "wb") as handle:
            popen = subprocess.Popen(
                [str(self.bin_dir.resolve() / name), *args],
                stdout=handle,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        daemon = Daemon(name, popen, log)
        self.daemons.append(daemon)
        return daemon

    def _start_etcd(self) -> str:
        client, peer = free_port(), free_port()
        url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        self._spawn(
            "etcd",
            [
                "--name=e2e",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=e2e={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        return url

    def _start_apiserver(self, etcd_url: str) -> None:
        assert self.pki is not None
        pki = self.pki
        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.apiserver_port}",
                f"--tls-cert-file={pki.serving.cert}",
                f"--tls-private-key-file={pki.serving.key}",
                f"--client-ca-file={pki.ca.cert}",
                "--authorization-mode=Node,RBAC",
                f"--service-account-issuer={SA_ISSUER}",
                f"--service-account-key-file={pki.sa_public_key}",
                f"--service-account-signing-key-file={pki.sa_private_key}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--endpoint-reconciler-type=none",
                "--max-requests-inflight=800",
                "--max-mutating-requests-inflight=400",
                "--profiling=false",
            ],
        )

    def _ssl_context(self) -> ssl.SSLContext:
        assert self.pki is not None
        ctx = ssl.create_default_context(cafile=str(self.pki.ca.cert))
        ctx.load_cert_chain(str(self.pki.admin.cert), str(self.pki.admin.key))
        return ctx

    def _wait_ready(self, timeout_s: float = 180.0) -> None:
        ctx = self._ssl_context()
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            for daemon in self.daemons:
                if not daemon.alive():
                    raise RuntimeError(
                        f"{daemon.name} exited ({daemon.popen.returncode}):\n{daemon.tail()}"
                    )
            try:
                with urllib.request.urlopen(
                    f"{self.server}/readyz", context=ctx, timeout=5
                ) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.5)
        raise RuntimeError(f"kube-apiserver not ready after {timeout_s}s: {last}\n{self.logs()}")

    def _create_nodes(self) -> None:
        capacity = {"cpu": "64", "memory": "256Gi", "ephemeral-storage": "1Ti", "pods": "250"}
        for i in range(self.nodes):
            node = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": f"kwok-node-{i}",
                    "annotations": {
                        "kwok.x-k8s.io/node": "fake",
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                    "labels": {
                        "type": "kwok",
                        "kubernetes.io/hostname": f"kwok-node-{i}",
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                    },
                },
                "status": {
                    "allocatable": capacity,
                    "capacity": capacity,
                },
            }
            self.kubectl("apply", "-f", "-", input_text=json.dumps(node))

    # ---------------------------------------------------------------- helpers
    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        input_text: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [
                str(self.bin_dir / "kubectl"),
                f"--kubeconfig={kubeconfig or self.admin_kubeconfig}",
                *args,
            ],
            input=input_text,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done

    def service_account_kubeconfig(
        self, namespace: str, name: str, path: Path, *, expiry_s: int = 7200
    ) -> Path:
        """A kubeconfig with a token from the TokenRequest API for ``namespace/name``."""
        assert self.pki is not None
        out = self.kubectl(
            "create", "token", name, "-n", namespace, f"--duration={expiry_s}s"
        ).stdout.strip()
        return write_kubeconfig(
            path, self.server, self.pki.ca.cert, user=name, token=out, namespace=namespace
        )


def token_subject(token: str) -> str:
    """The ``sub`` claim of a JWT (for asserting whose token we hold)."""
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return str(json.loads(base64.urlsafe_b64decode(payload))["sub"])
