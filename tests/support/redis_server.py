"""A private redis-server on a free port, without persistence, stopped by its pid."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import redis

from tests.support.ports import free_port
from tests.support.procs import Proc, wait_for


def pings(client: redis.Redis) -> bool:
    """Whether the server behind ``client`` answers PING right now."""
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


class RedisServer:
    """``redis-server`` on 127.0.0.1, its log in ``workdir/redis.log``; may be started again."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        *,
        port: int | None = None,
        password: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.binary = binary
        self.extra_args = list(extra_args)
        self.workdir = workdir
        self.port = port or free_port()
        self.password = password
        self.proc: Proc | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        argv += ["--daemonize", "no"]
        if self.password:
            argv += ["--requirepass", self.password]
        return argv + self.extra_args

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = Proc(self.argv(), env=os.environ, log=self.workdir / "redis.log")
        client = self.client(socket_connect_timeout=0.2)
        proc = self.proc
        try:
            wait_for(
                lambda: pings(client) or not proc.alive(),
                timeout_s=10,
                interval_s=0.05,
                message=f"redis-server on port {self.port}",
                error=RuntimeError,
            )
        except BaseException:
            self.stop()
            raise
        finally:
            client.close()
        if not proc.alive():
            output = proc.output()[-500:]
            self.stop()
            raise RuntimeError(f"redis-server did not start on port {self.port}: {output}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(grace_s=5.0)
        self.proc = None

    def client(self, *, socket_connect_timeout: float | None = None) -> redis.Redis:
        return redis.Redis(
            port=self.port, password=self.password, socket_connect_timeout=socket_connect_timeout
        )
