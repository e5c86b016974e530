"""A private PostgreSQL on a free port (fsync off, trust on loopback), stopped by its pid.

One helper for every test that needs PostgreSQL (the team app's gevent database test, the
beat's django-celery-beat tests, the beat benchmark). Debian's ``postgresql`` package (``make
setup`` installs it) keeps ``initdb`` and ``postgres`` in ``/usr/lib/postgresql/<version>/bin``.
PostgreSQL refuses to run as root: as root, ``initdb`` and ``postgres`` run as the ``postgres``
user (``setpriv``, which execs in place, so the pid stopped is the server's) in a directory that
user owns.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.support.ports import free_port
from tests.support.procs import Proc, wait_for
from tests.support.tools import require_tool

BIN_DIRS = ("/usr/lib/postgresql/*/bin",)
RUN_AS = "postgres"


def require_postgres() -> tuple[str, str]:
    """``initdb`` and ``postgres``; missing ones fail the test in CI (skip elsewhere)."""
    return require_tool("initdb", BIN_DIRS), require_tool("postgres", BIN_DIRS)


class PostgresServer:
    """``postgres`` on 127.0.0.1, trust authentication, a database ``shoal`` made at start."""

    def __init__(
        self, workdir: Path | None = None, *, port: int | None = None, database: str = "shoal"
    ) -> None:
        self.initdb, self.postgres = require_postgres()
        self.port = port or free_port()
        self.user = "shoal"
        self.database = database
        self.datadir = Path(tempfile.mkdtemp(prefix="shoal-pg-"))
        self.logdir = workdir or self.datadir
        self.proc: Proc | None = None

    def url(self, database: str | None = None) -> str:
        """The URL of ``database`` (default: the one made at start)."""
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database or self.database}"

    def create_database(self, name: str) -> str:
        """Another database on this server; its URL."""
        self._create_database(name)
        return self.url(name)

    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        pwd.getpwnam(RUN_AS)  # KeyError: no such user to run the server as
        setpriv = require_tool("setpriv")
        return [setpriv, f"--reuid={RUN_AS}", f"--regid={RUN_AS}", "--init-groups", *argv]

    def start(self) -> None:
        self.logdir.mkdir(parents=True, exist_ok=True)
        data = self.datadir / "data"
        if os.geteuid() == 0:
            owner = pwd.getpwnam(RUN_AS)
            os.chown(self.datadir, owner.pw_uid, owner.pw_gid)
        subprocess.run(
            self._as_owner([self.initdb, "-D", str(data), "-U", self.user, "--auth=trust",
                            "-E", "UTF8", "--no-sync", "--locale=C"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        argv = [self.postgres, "-D", str(data), "-p", str(self.port), "-k", str(self.datadir),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=200"]  # fmt: skip
        self.proc = Proc(
            self._as_owner(argv), env=os.environ, log=self.logdir / "postgres.log", name="postgres"
        )
        proc = self.proc
        try:
            wait_for(
                lambda: self._ready() or not proc.alive(),
                timeout_s=30,
                interval_s=0.1,
                message=f"postgres on port {self.port}",
                error=RuntimeError,
            )
            if not proc.alive():
                raise RuntimeError(f"postgres did not start: {proc.output()[-800:]}")
            self._create_database(self.database)
        except BaseException:
            self.stop()
            raise

    def _connect(self, database: str = "postgres"):  # type: ignore[no-untyped-def]
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname=database, connect_timeout=2
        )

    def _ready(self) -> bool:
        try:
            self._connect().close()
        except Exception:
            return False
        return True

    def _create_database(self, name: str) -> None:
        conn = self._connect()
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()

    def stop(self) -> None:
        """A fast shutdown (SIGINT: clients are disconnected), SIGKILL if it lingers."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.signal(signal.SIGINT)
            self.proc.wait(15)
            self.proc.stop(grace_s=5.0)
            self.proc = None
        shutil.rmtree(self.datadir, ignore_errors=True)
