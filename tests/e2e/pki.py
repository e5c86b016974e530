"""A throwaway PKI for the test control plane, made with the openssl CLI (no extra package)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

SERVICE_CLUSTER_IP = "10.0.0.1"
_DAYS = "3"


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca: CertPair
    serving: CertPair
    admin: CertPair
    controller_manager: CertPair
    scheduler: CertPair
    sa_private_key: Path
    sa_public_key: Path


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


def _ec_key_args(key: Path) -> list[str]:
    return [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(key),
    ]


def _ca(folder: Path) -> CertPair:
    pair = CertPair(folder / "ca.crt", folder / "ca.key")
    _run(
        "openssl", "req", "-x509", *_ec_key_args(pair.key), "-out", str(pair.cert), "-days", _DAYS,
        "-subj", "/CN=shoal-e2e-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    )  # fmt: skip
    return pair


def _leaf(folder: Path, ca: CertPair, name: str, subject: str, sans: list[str]) -> CertPair:
    pair = CertPair(folder / f"{name}.crt", folder / f"{name}.key")
    csr = folder / f"{name}.csr"
    ext = folder / f"{name}.ext"
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth,clientAuth",
    ]
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    ext.write_text("\n".join(lines) + "\n")
    _run("openssl", "req", "-new", *_ec_key_args(pair.key), "-subj", subject, "-out", str(csr))
    _run(
        "openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
        "-CAcreateserial", "-days", _DAYS, "-out", str(pair.cert), "-extfile", str(ext),
    )  # fmt: skip
    return pair


def make_pki(folder: Path) -> Pki:
    """CA, apiserver serving cert for loopback, client certs, and the service-account key pair."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca(folder)
    serving_sans = [
        "IP:127.0.0.1",
        f"IP:{SERVICE_CLUSTER_IP}",
        "DNS:localhost",
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local",
    ]
    serving = _leaf(folder, ca, "apiserver", "/CN=kube-apiserver", serving_sans)
    admin = _leaf(folder, ca, "admin", "/O=system:masters/CN=shoal-e2e-admin", [])
    kcm = _leaf(folder, ca, "kcm", "/CN=system:kube-controller-manager", [])
    sched = _leaf(folder, ca, "scheduler", "/CN=system:kube-scheduler", [])
    sa_key, sa_pub = folder / "sa.key", folder / "sa.pub"
    _run(
        "openssl",
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        str(sa_key),
    )
    _run("openssl", "pkey", "-in", str(sa_key), "-pubout", "-out", str(sa_pub))
    return Pki(ca, serving, admin, kcm, sched, sa_key, sa_pub)
