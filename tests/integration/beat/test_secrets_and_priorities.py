"""The beat reaches Redis and files messages like every other shoal process: a password from a
mounted file, and the installation's priority steps and separator (it used to take neither)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.beat.support import start_beats, write_schedules
from tests.support.procs import ProcessTracker, wait_for
from tests.support.redis_server import RedisServer
from tests.support.tools import require_tool

pytestmark = pytest.mark.integration

SCHEDULE = """
schedules:
  - name: urgent
    task: shoal.noop
    queue: pq
    priority: 8
    every: 1s
"""


def test_a_password_file_and_the_priority_settings_are_honoured(
    procs: ProcessTracker, worker_env: dict[str, str], tmp_path: Path
) -> None:
    server = RedisServer(require_tool("redis-server"), tmp_path / "redis", password="s3cr:et")
    server.start()
    try:
        secret = tmp_path / "password"
        secret.write_text("s3cr:et\n")
        env = dict(worker_env)
        env.update(
            SHOAL_REDIS_URL=f"redis://127.0.0.1:{server.port}/0",
            SHOAL_REDIS_PASSWORD_FILE=str(secret),
            SHOAL_PRIORITY_STEPS="0,5,9",
            SHOAL_PRIORITY_SEP=":",
        )
        path = tmp_path / "schedules.yaml"
        write_schedules(path, SCHEDULE)
        (beat,) = start_beats(procs, env, path, 1)
        client = server.client()
        wait_for(lambda: client.llen("pq:5") > 0, timeout_s=20, message="a tick in pq:5")
        assert client.llen("pq") == 0 and client.llen("pq\x06\x166") == 0
        assert beat.alive()
        client.close()
    finally:
        server.stop()


def test_an_unreadable_password_file_stops_the_beat_with_one_line(
    procs: ProcessTracker, worker_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "schedules.yaml"
    write_schedules(path, SCHEDULE)
    env = dict(worker_env, SHOAL_REDIS_PASSWORD_FILE=str(tmp_path / "missing"))
    (beat,) = start_beats(procs, env, path, 1)
    wait_for(lambda: not beat.alive(), timeout_s=20, message="the beat to stop")
    lines = [line for line in beat.output().splitlines() if line.strip()]
    assert lines == [f"shoal beat: SHOAL_REDIS_PASSWORD_FILE: cannot read '{tmp_path / 'missing'}' "
                     "(No such file or directory)"]  # fmt: skip
    assert beat.popen.returncode == 1
