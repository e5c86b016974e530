"""The controller reaches Redis with a password, through Sentinel and over TLS (real servers)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from contract.connection import connect
from scheduler.autoscaler.config import RedisConfig
from scheduler.autoscaler.redis_source import RedisSource
from tests.support.ports import free_port
from tests.support.procs import ProcessTracker, wait_for
from tests.support.tools import require_tool

pytestmark = pytest.mark.integration


def start_redis(procs: ProcessTracker, *args: str, name: str) -> None:
    binary = require_tool("redis-server")
    procs.start([binary, "--save", "", "--appendonly", "no", *args], env={}, name=name)


def pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.AuthenticationError, redis.ResponseError):
        return False


@pytest.fixture
def password_redis(procs: ProcessTracker) -> Iterator[int]:
    port = free_port()
    start_redis(
        procs,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--requirepass",
        "s3cret",
        name="redis-pw",
    )
    client = redis.Redis(port=port, password="s3cret", socket_connect_timeout=0.5)
    wait_for(lambda: pings(client), timeout_s=10, message="redis with a password")
    client.lpush("jobs", "a", "b")
    client.close()
    yield port


def test_a_password_from_a_file_reaches_redis(password_redis: int, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    url = f"redis://127.0.0.1:{password_redis}/0"
    settings = RedisConfig(url=url, password_file=str(secret)).settings({})
    reading = RedisSource(settings.connect()).observe(["jobs"])["jobs"]
    assert (reading.ok, reading.backlog) == (True, 2)
    without = RedisSource(connect(url, None, timeout_s=1)).observe(["jobs"])["jobs"]
    assert not without.ok and "Authentication" in without.error


def test_sentinel_url_finds_the_master(procs: ProcessTracker, tmp_path: Path) -> None:
    master, sentinel = free_port(), free_port()
    start_redis(procs, "--port", str(master), "--bind", "127.0.0.1", name="master")
    wait_for(lambda: pings(redis.Redis(port=master)), timeout_s=10, message="master")
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {sentinel}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor mymain 127.0.0.1 {master} 1\n"
        "sentinel down-after-milliseconds mymain 5000\n"
    )
    procs.start([require_tool("redis-server"), str(conf), "--sentinel"], env={}, name="sentinel")
    probe = redis.Redis(port=sentinel, socket_connect_timeout=0.5)
    wait_for(
        lambda: pings(probe) and probe.sentinel_get_master_addr_by_name("mymain"),
        timeout_s=20,
        message="sentinel watching the master",
    )
    redis.Redis(port=master).lpush("mail\x06\x163", "x", "y", "z")
    client = connect(f"sentinel://127.0.0.1:{sentinel}/0?master_name=mymain")
    reading = RedisSource(client).observe(["mail"])["mail"]
    assert (reading.ok, reading.backlog) == (True, 3)


def make_certs(directory: Path) -> tuple[Path, Path, Path]:
    openssl = require_tool("openssl")
    ca_key, ca, key, csr, cert = (
        directory / n for n in ("ca.key", "ca.crt", "r.key", "r.csr", "r.crt")
    )
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run = lambda *a: subprocess.run([openssl, *a], check=True, capture_output=True, timeout=60)  # noqa: E731
    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        str(key),
        "-out",
        str(csr),
    )
    run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(ext),
        "-out",
        str(cert),
    )
    return ca, cert, key


def test_rediss_url_verifies_the_server_certificate(procs: ProcessTracker, tmp_path: Path) -> None:
    ca, cert, key = make_certs(tmp_path)
    port = free_port()
    start_redis(
        procs,
        "--port",
        "0",
        "--tls-port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--tls-cert-file",
        str(cert),
        "--tls-key-file",
        str(key),
        "--tls-ca-cert-file",
        str(ca),
        "--tls-auth-clients",
        "no",
        name="redis-tls",
    )
    url = f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={ca}"
    client = connect(url)
    wait_for(lambda: pings(client), timeout_s=10, message="redis over TLS")
    client.lpush("secure", "1")
    reading = RedisSource(client).observe(["secure"])["secure"]
    assert (reading.ok, reading.backlog) == (True, 1)
    plain = RedisSource(connect(f"redis://127.0.0.1:{port}/0", timeout_s=1)).observe(["secure"])
    assert not plain["secure"].ok
