"""Runners for the commands of the docs' fenced blocks: each runs one, and asserts what it
must print or write. A runner gets the command (with the output its doc shows) and a
:class:`Sandbox`; tests/docs/registry.py says which runner runs which command."""

from __future__ import annotations

import csv
import json
import re
import shlex
import signal
import time
import uuid
from typing import Any

from tests.docs.collect import Command, all_blocks
from tests.docs.sandbox import Sandbox, redirect
from tests.support.django_project import EXAMPLE, migrate, project_env
from tests.support.procs import wait_for
from tests.support.tools import ROOT
from workers.deadletter import DeadLetterReason, DeadLetterStore, OriginalMessage, make_entry

DLQ_QUEUE = "emails"
DLQ_OLD_ID = "3f2a9c"
"""The id prefix docs/publishing.md requeues by; the older of the two seeded dead letters."""
_STAMP = re.compile(r"^  \d{4}-\d\d-\d\dT(\d\d:\d\d:\d\d)[+-]\d\d:\d\d$")


def option_values(command: str, option: str) -> list[str]:
    words = shlex.split(command)
    return [words[i + 1] for i, w in enumerate(words[:-1]) if w == option]


# -- shoal simulate ----------------------------------------------------------------------------
def simulate_header() -> list[str]:
    """The table header docs/simulate.md shows, as words."""
    for block in all_blocks():
        if block.doc == "docs/simulate.md" and block.lang == "text":
            return block.lines[1].split()
    raise LookupError("docs/simulate.md shows no result table")


def run_simulate(cmd: Command, sb: Sandbox) -> None:
    out = sb.ok(cmd.text)
    policies = option_values(cmd.text, "--policy") or ["shoal"]
    with (sb.path / option_values(cmd.text, "--trace")[0]).open() as trace:
        queues = sorted({row["queue"] for row in csv.DictReader(trace)})
    if "--json" in cmd.text:
        runs = json.loads(out)["runs"]
        assert [r["policy"] for r in runs] == policies
        for run in runs:
            assert sorted(q["queue"] for q in run["queues"]) == queues
            assert all(q["p95_wait_s"] >= 0 and q["replica_seconds"] > 0 for q in run["queues"])
    else:
        lines = out.splitlines()
        titles = [line.split(",")[0] for line in lines if line.startswith("policy ")]
        assert titles == [f"policy {p}" for p in policies]
        header = simulate_header()
        assert sum(line.split() == header for line in lines) == len(policies)
        rows = [line.split()[0] for line in lines if line.split()[:1] and line.split()[0] in queues]
        assert rows == queues * len(policies)
    target = redirect(cmd.text)[1]
    if target:  # ``> before.json`` keeps what was printed
        assert (sb.path / target).read_text() == out
    for plot in option_values(cmd.text, "--plot"):
        data = (sb.path / plot).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000


# -- shoal beat --------------------------------------------------------------------------------
def run_beat_check(cmd: Command, sb: Sandbox) -> None:
    """The output docs/beat.md shows, with fire times from today instead of the doc's day."""
    lines = sb.ok(cmd.text).splitlines()
    assert len(lines) == len(cmd.output), lines
    for shown, real in zip(cmd.output, lines, strict=True):
        stamp = _STAMP.match(shown)
        if stamp:
            real_stamp = _STAMP.match(real)
            assert real_stamp and real_stamp.group(1) == stamp.group(1), (shown, real)
        else:
            assert real == shown


def run_beat(cmd: Command, sb: Sandbox) -> None:
    """A replica takes the leader lease and anchors the doc's entry; SIGTERM stops it cleanly."""
    beat = sb.start(cmd.text, name="beat")
    wait_for(
        lambda: sb.client.exists("shoal:beat:leader", "shoal:beat:entry:daily-email") == 2,
        timeout_s=60,
        message="beat to lead and anchor daily-email",
    )
    assert beat.alive()
    beat.signal(signal.SIGTERM)
    assert beat.wait(30) == 0, beat.output()
    assert sb.client.exists("shoal:beat:leader") == 0  # released on the way out
    assert "1 entries" in beat.output()


def django_example(sb: Sandbox) -> None:
    """The example Django project as the docs' ``--app proj``: on PYTHONPATH, its sqlite
    database migrated in the sandbox, this session's Redis as its broker."""
    sb.env.update(
        project_env(sb.env, sb.redis_url, sqlite=sb.path / "db.sqlite3"),
        PYTHONPATH=f"{ROOT}:{EXAMPLE}",
    )
    sb.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    migrate(sb.env)


def run_beat_app_check(cmd: Command, sb: Sandbox) -> None:
    """The example project's daily email, as docs/beat.md shows it (times from today)."""
    django_example(sb)
    if cmd.inline:
        assert "daily-email: cron task orders.tasks.send_daily_email on emails" in sb.ok(cmd.text)
    else:
        run_beat_check(cmd, sb)


def run_beat_app(cmd: Command, sb: Sandbox) -> None:
    """A replica of the example project syncs the daily email into django-celery-beat's table,
    leads, and anchors it; SIGTERM stops it cleanly."""
    django_example(sb)
    beat = sb.start(cmd.text, name="beat")
    wait_for(
        lambda: sb.client.exists("shoal:beat:leader", "shoal:beat:entry:daily-email") == 2,
        timeout_s=90,
        message="beat to lead and anchor daily-email",
    )
    beat.signal(signal.SIGTERM)
    assert beat.wait(30) == 0, beat.output()
    assert "beat_schedule synced into django-celery-beat's table" in beat.output()


# -- shoal dlq ---------------------------------------------------------------------------------
def seed_dead_letters(sb: Sandbox) -> list[dict[str, Any]]:
    """Two dead letters in ``emails`` (oldest first), written by the workers' own store."""
    store = DeadLetterStore(sb.client)
    entries = []
    for n, (entry_id, task) in enumerate(
        [(DLQ_OLD_ID + uuid.uuid4().hex[6:], "mail.send"), (uuid.uuid4().hex, "mail.digest")]
    ):
        task_id = str(uuid.uuid4())
        body = json.dumps([[n], {}, {"callbacks": None, "errbacks": None, "chain": None}])
        message = OriginalMessage(
            body=body.encode(),
            headers={"lang": "py", "task": task, "id": task_id, "root_id": task_id},
            properties={"priority": 0, "delivery_info": {"routing_key": DLQ_QUEUE}},
            content_type="application/json",
            content_encoding="utf-8",
        )
        entry = make_entry(
            reason=DeadLetterReason.RETRIES_EXHAUSTED,
            error=f"ConnectionError: smtp down ({n})",
            message=message,
            queue=DLQ_QUEUE,
            now=time.time() - 60 + n,
            entry_id=entry_id,
        )
        store.add(entry)
        entries.append(entry)
    return entries


def queued_tasks(sb: Sandbox) -> list[str]:
    return [json.loads(raw)["headers"]["task"] for raw in sb.client.lrange(DLQ_QUEUE, 0, -1)]


def run_dlq(cmd: Command, sb: Sandbox) -> None:
    old, new = seed_dead_letters(sb)
    out = sb.ok(cmd.text)
    action = shlex.split(cmd.text)[2:]
    dead = sb.client.llen(f"shoal:dlq:{DLQ_QUEUE}")
    if action == ["list"]:
        assert out.split() == [DLQ_QUEUE, "2"]
    elif action == ["list", DLQ_QUEUE]:
        rows = [line.split("  ") for line in out.splitlines()]
        assert [r[:2] for r in rows] == [["0", new["id"][:12]], ["1", old["id"][:12]]]
        assert [r[4] for r in rows] == ["mail.digest", "mail.send"]
        assert {r[3] for r in rows} == {"retries_exhausted"}
    elif action == ["show", DLQ_QUEUE, "0"]:
        shown = json.loads(out)
        assert (shown["id"], shown["task"], shown["error"]) == (
            new["id"],
            "mail.digest",
            new["error"],
        )
    elif action == ["requeue", DLQ_QUEUE, DLQ_OLD_ID]:
        assert out.strip() == f"requeued 1 message(s) to {DLQ_QUEUE}"
        assert (queued_tasks(sb), dead) == (["mail.send"], 1)
    elif action == ["requeue", DLQ_QUEUE]:
        assert out.strip() == f"requeued 2 message(s) to {DLQ_QUEUE}"
        assert (sorted(queued_tasks(sb)), dead) == (["mail.digest", "mail.send"], 0)
    else:
        assert action == ["purge", DLQ_QUEUE]
        assert out.strip() == f"purged 2 dead letter(s) of {DLQ_QUEUE}"
        assert (queued_tasks(sb), dead) == ([], 0)


# -- settings, status --------------------------------------------------------------------------
def run_rate_limits(cmd: Command, sb: Sandbox) -> None:
    """The variable as docs/publishing.md sets it is what ``shoal config`` reads back."""
    report = json.loads(sb.ok(f"{cmd.text} shoal config --json"))
    assert report["settings"]["rate_limits"] == [
        "queue:emails=5/s",
        "task:billing.charge=1.66667/s",
        "task:reports.build=0.277778/s",
    ]


def run_status(cmd: Command, sb: Sandbox) -> None:
    """The status hash holding the doc's two queues prints as the doc shows it."""
    now = time.time()
    records: list[dict[str, Any]] = [
        {"queue": "digest", "backlog": 0, "waiting": {"0": 0, "3": 0, "6": 0, "9": 0},
         "in_flight": 0, "held_live": 0, "held_dead": 0, "delayed": 12,
         "next_due_at": now + 300, "oldest_age_s": None, "current_replicas": 0,
         "desired_replicas": 0, "reason": "idle", "at": now - 3},
        {"queue": "emails", "backlog": 1200, "waiting": {"0": 1000, "3": 0, "6": 0, "9": 200},
         "in_flight": 40, "held_live": 42, "held_dead": 3, "delayed": 0, "next_due_at": None,
         "oldest_age_s": 95.0, "current_replicas": 4, "desired_replicas": 8,
         "reason": "backlog", "at": now - 3},
        {"queue": "reports", "backlog": None, "waiting": None, "in_flight": None,
         "held_live": None, "held_dead": None, "delayed": None, "next_due_at": None,
         "oldest_age_s": None, "current_replicas": 2, "desired_replicas": 2,
         "reason": "observation-failed", "at": now - 3},
    ]  # fmt: skip
    sb.client.hset("shoal:autoscaler:status", mapping={r["queue"]: json.dumps(r) for r in records})
    lines = sb.ok(cmd.text).splitlines()
    assert len(lines) == len(cmd.output)
    for shown, real in zip(cmd.output, lines, strict=True):
        if shown.startswith("QUEUE"):
            assert real == shown
        else:  # the age of the record is the time this test took
            assert re.sub(r"\d+s ago$", "", real) == re.sub(r"\d+s ago$", "", shown), real


# -- helm --------------------------------------------------------------------------------------
def run_failing_helm(cmd: Command, sb: Sandbox) -> None:
    """The chart README shows this one failing: the same error, word for word."""
    done = sb.run(cmd.text, timeout_s=60)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.rstrip().splitlines() == list(cmd.output)
