"""Runners for the commands the docs name inline in prose.

A ``shoal`` synopsis (``shoal worker health [--ready]``) or a ``shoal`` command only named in a
sentence (``shoal load``) is checked against the real parser: ``shoal ... --help`` exits 0 and
lists every option and alternative the doc writes. Complete commands run for real.
"""

from __future__ import annotations

import json
import re
import signal
import time

from celery import Celery

from contract.queues import DEFAULT_QUEUE
from shoal.cli import COMMANDS
from tests.chart.test_alerts import write_rules
from tests.docs.collect import Command
from tests.docs.sandbox import Sandbox
from tests.support.procs import Proc, wait_for
from workers import health
from workers.kit import configure

_OPTION = re.compile(r"--[a-z][a-z0-9-]*")


def run_help(cmd: Command, sb: Sandbox) -> None:
    """The subcommand exists and knows every option (and alternative) the doc writes."""
    words = cmd.text.split()[1:]
    path: list[str] = []
    for word in words:
        if word.startswith(("-", "[")) or word.isupper():
            break
        path.append(word)
    alternatives = path.pop().split("|") if path and "|" in path[-1] else []
    assert path and path[0] in COMMANDS, cmd.text
    usage = sb.ok(" ".join(["shoal", *path, "--help"]))
    assert usage.startswith(f"usage: shoal {' '.join(path)}"), usage[:200]
    named = set(_OPTION.findall(cmd.text)) | set(alternatives)
    assert sorted(n for n in named if n not in usage) == []


def run_config(cmd: Command, sb: Sandbox) -> None:
    """Every section, and the Redis URL of the environment (no password in it to mask)."""
    out = sb.ok(cmd.text)
    sections = [line for line in out.splitlines() if line.startswith("[")]
    assert sections == ["[settings]", "[derived]", "[celery]"]
    assert f'broker_url = "{sb.redis_url}"' in out.splitlines()


def run_status_json(cmd: Command, sb: Sandbox) -> None:
    record = {"queue": "emails", "backlog": 1200, "reason": "backlog", "detail": "d", "at": 1.0}
    sb.client.hset("shoal:autoscaler:status", "emails", json.dumps(record))
    assert json.loads(sb.ok(cmd.text)) == [record]


def run_usage(cmd: Command, sb: Sandbox) -> None:
    """``python -m shoal`` is the ``shoal`` entry point: it lists every subcommand."""
    listed = [line.split()[0] for line in sb.ok(cmd.text).splitlines() if line.startswith("  ")]
    assert listed == list(COMMANDS)


def ready_worker(cmd: Command, sb: Sandbox) -> Proc:
    """Start the doc's worker command and wait until its heartbeat says it consumes."""
    worker = sb.start(cmd.text, name="worker")
    path = health.health_file_path(sb.env)
    wait_for(
        lambda: health.readiness(health.read_file(path), time.time()).ok or not worker.alive(),
        timeout_s=90,
        message="the worker to be ready",
    )
    assert worker.alive(), worker.output()
    return worker


def stop_worker(worker: Proc) -> None:
    worker.signal(signal.SIGTERM)
    assert worker.wait(60) == 0, worker.output()[-3000:]


def run_worker(cmd: Command, sb: Sandbox) -> None:
    """A worker on the default queue runs a stock publish that names no queue (both Celery's
    ``celery``), then drains and exits 0 on SIGTERM."""
    worker = ready_worker(cmd, sb)
    client = sb.client
    publisher = configure(Celery("docs", set_as_current=False), redis_url=sb.redis_url)
    try:
        publisher.send_task("shoal.noop")
    finally:
        publisher.close()
    wait_for(
        lambda: client.hget(f"shoal:stats:{DEFAULT_QUEUE}", "completed") == b"1",
        timeout_s=60,
        message="shoal.noop to complete",
    )
    if "--concurrency" in cmd.text:
        assert "concurrency: 2 (prefork)" in worker.output()
    stop_worker(worker)


def run_worker_health(cmd: Command, sb: Sandbox) -> None:
    """0 while a worker runs, 1 once it is gone."""
    worker = ready_worker(Command(cmd.doc, cmd.line, "shoal worker"), sb)
    assert sb.run(cmd.text).returncode == 0
    stop_worker(worker)
    done = sb.run(cmd.text)
    assert done.returncode == 1 and done.stdout + done.stderr


def run_quiet_helm(cmd: Command, sb: Sandbox) -> None:
    """``>/dev/null`` keeps the exit code: 0 for the doc's values file, 1 for a bad one."""
    assert sb.run(cmd.text, timeout_s=60).returncode == 0
    (sb.path / "values-prod.yaml").write_text("queues: [{name: a, pool: threads}]\n")
    done = sb.run(cmd.text, timeout_s=60)
    assert done.returncode == 1 and "value must be one of 'prefork', 'gevent'" in done.stderr


def run_chart_check(cmd: Command, sb: Sandbox) -> None:
    """A check the docs name (``helm lint``, ``helm template``), run on the chart."""
    out = sb.ok(f"{cmd.text} charts/shoal", timeout_s=60)
    if cmd.text.startswith("helm lint"):
        assert "1 chart(s) linted, 0 chart(s) failed" in out
    else:
        assert "\nkind: Deployment\n" in out


def run_promtool(cmd: Command, sb: Sandbox) -> None:
    """On the rules the chart renders, extracted to tests/chart/ as test_alerts.py does."""
    directory = sb.path / "tests" / "chart"
    directory.mkdir(parents=True)
    rules = write_rules(directory)
    text = cmd.text if cmd.text.endswith(".yaml") else f"{cmd.text} {rules.relative_to(sb.path)}"
    out = sb.ok(text, timeout_s=60)
    assert "SUCCESS" in out, out
