"""A private PostgreSQL on a free port (fsync off, trust on loopback), stopped by its pid.

PostgreSQL refuses to run as root: when the tests run as root, ``initdb`` and ``postgres`` run
as the ``postgres`` user (``setpriv``, which execs in place, so the pid stopped is the server's)
in a directory that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.ports import free_port
from tests.support.procs import Proc, wait_for
from tests.support.tools import require_tool

USER = "postgres"


def _as_server_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    pwd.getpwnam(USER)  # KeyError: no such user to run the server as
    return [require_tool("setpriv"), f"--reuid={USER}", f"--regid={USER}", "--init-groups"]


class PostgresServer:
    def __init__(self) -> None:
        self.initdb = require_tool("initdb")
        self.postgres = require_tool("postgres")
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="shoal-pg-"))
        self.proc: Proc | None = None

    def url(self, database: str) -> str:
        return f"postgres://{USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        prefix = _as_server_user()
        if prefix:
            shutil.chown(self.workdir, user=USER)
        data = self.workdir / "data"
        subprocess.run(
            [*prefix, self.initdb, "-D", str(data), "-A", "trust", "-U", USER, "--no-sync"],
            capture_output=True,
            check=True,
            timeout=120,
        )
        argv = [*prefix, self.postgres, "-D", str(data), "-p", str(self.port)]
        argv += ["-k", str(self.workdir), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
        self.proc = Proc(argv, env=os.environ, log=self.workdir / "postgres.log", name="postgres")
        proc = self.proc
        try:
            wait_for(
                lambda: self._answers() or not proc.alive(),
                timeout_s=30,
                message=f"postgres on port {self.port}",
                error=RuntimeError,
            )
            if not proc.alive():
                raise RuntimeError(f"postgres did not start: {proc.output()[-500:]}")
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(self.url("postgres"), connect_timeout=1).close()
        except psycopg2.OperationalError:
            return False
        return True

    def create_database(self, name: str) -> str:
        import psycopg2

        connection = psycopg2.connect(self.url("postgres"))
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(grace_s=10.0)
            self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)
