"""Runners for docs/your-app.md: the example Django project (examples/django_project) in the
sandbox, as a team runs it from its project directory, on this session's Redis."""

from __future__ import annotations

import shlex
import sqlite3
import subprocess
import sys

from celery import Celery

from tests.docs.collect import Command, Snippet
from tests.docs.inline_runs import ready_worker, stop_worker
from tests.docs.sandbox import Sandbox
from tests.support.procs import Proc
from tests.support.tools import ROOT

EXAMPLE = ROOT / "examples" / "django_project"
PROJECT = ("manage.py", "proj", "orders")
WORKER = "shoal worker --app proj --concurrency 2"


def in_project(sb: Sandbox) -> None:
    """The sandbox is the project's directory: its files, its database, its Celery URLs (the
    broker is this session's Redis, results on database 1 as the project's settings have it)."""
    for name in PROJECT:
        if not (sb.path / name).exists():
            (sb.path / name).symlink_to(EXAMPLE / name)
    sb.env.update(
        EXAMPLE_SQLITE_PATH=str(sb.path / "db.sqlite3"),
        CELERY_BROKER_URL=sb.redis_url,
        CELERY_RESULT_BACKEND=sb.redis_url.rsplit("/", 1)[0] + "/1",
    )


def migrated(sb: Sandbox) -> None:
    in_project(sb)
    sb.ok("python manage.py migrate --verbosity 0", timeout_s=120)


def tables(sb: Sandbox) -> set[str]:
    with sqlite3.connect(sb.path / "db.sqlite3") as db:
        return {row[0] for row in db.execute("select name from sqlite_master where type='table'")}


def run_migrate(cmd: Command, sb: Sandbox) -> None:
    in_project(sb)
    sb.ok(cmd.text, timeout_s=120)
    assert {"orders_order", "django_celery_beat_periodictask"} <= tables(sb)


def _worker(sb: Sandbox, command: str = WORKER) -> Proc:
    return ready_worker(Command("docs/your-app.md", 0, command), sb)


def run_app_worker(cmd: Command, sb: Sandbox) -> None:
    """The worker starts with exactly the doc's WARNING lines and runs the project's task."""
    migrated(sb)
    worker = _worker(sb, cmd.text)
    client = Celery("web", broker=sb.redis_url, backend=sb.env["CELERY_RESULT_BACKEND"])
    try:
        assert client.send_task("orders.tasks.touch", args=["docs"]).get(timeout=60) == 1
    finally:
        client.close()
    said = [line for line in worker.output().splitlines() if line.startswith("shoal worker:")]
    assert said == list(cmd.output), said
    stop_worker(worker)


def run_publish(cmd: Command, sb: Sandbox) -> None:
    """The project's own ``.delay()`` from its Django shell, run by a shoal worker."""
    migrated(sb)
    worker = _worker(sb)
    out = sb.ok(cmd.text, timeout_s=120)
    assert out.splitlines() == list(cmd.output), out
    stop_worker(worker)


def run_celery_tool(cmd: Command, sb: Sandbox) -> None:
    """``celery -A proj ...`` (Celery's own command) against the shoal worker."""
    migrated(sb)
    worker = _worker(sb)
    words = shlex.split(cmd.text)
    assert words[0] == "celery"
    done = subprocess.run(
        [sys.executable, "-m", *words],
        cwd=sb.path,
        env=sb.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ".prefork@" in done.stdout and "'name': 'celery'" in done.stdout, done.stdout
    assert "1 node online" in done.stdout, done.stdout
    stop_worker(worker)


def run_config_app(cmd: Command, sb: Sandbox) -> None:
    """Every line the doc shows is in the output (an excerpt)."""
    in_project(sb)
    out = sb.ok(cmd.text, timeout_s=120).splitlines()
    assert cmd.output and [line for line in cmd.output if line not in out] == []


def run_example_file(snippet: Snippet, sb: Sandbox) -> None:
    """A file of the example project shown whole (its path in a first comment) is that file."""
    header, _, code = snippet.code.partition("\n")
    assert code == (EXAMPLE / header.removeprefix("# ")).read_text()


def run_example_lines(snippet: Snippet, sb: Sandbox) -> None:
    """An excerpt of the example's settings: every line is in the file."""
    header, *lines = snippet.code.splitlines()
    path = EXAMPLE / header.removeprefix("# ").split()[0]
    text = path.read_text().splitlines()
    assert lines and [line for line in lines if line not in text] == []
