"""The demo's pieces without processes: its config, schedules, trace, and the view's arithmetic."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.autoscaler.config import parse_config
from scheduler.beat.spec import load_schedules
from scheduler.demo import render
from scheduler.demo.cli import (
    DEMO_SCHEDULES,
    DEMO_TRACE,
    DEMO_VALUES,
    autoscaler_config,
    demo_values,
    main,
)
from scheduler.demo.view import History, QueueLook
from scheduler.simulate.trace import read_rows


def test_the_generated_autoscaler_config_is_valid_for_the_controller() -> None:
    config = parse_config(autoscaler_config(demo_values(DEMO_VALUES), "redis://127.0.0.1:6399/0"))
    assert config.redis.url == "redis://127.0.0.1:6399/0"
    assert not config.leader_election.enabled
    assert {q.name: (str(q.pool), q.min_replicas) for q in config.queues} == {
        "reports": ("prefork", 0),
        "emails": ("gevent", 0),
    }


def test_a_bad_values_file_stops_the_demo_with_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("queues: [{name: q, pool: threads}]\n")
    assert main(["--values", str(values), "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    field = "queues[0] (q).pool: expected one of gevent, prefork, got 'threads'"
    assert err == f"shoal demo: {values}: {field}\n"
    assert not (tmp_path / "out").exists()


def test_the_demo_schedules_and_trace_load() -> None:
    schedules = load_schedules(DEMO_SCHEDULES)
    assert [e.name for e in schedules.entries] == ["email-digest", "minute-report"]
    rows = read_rows(DEMO_TRACE)
    assert {r.queue for r in rows} == {"reports", "emails"}
    assert max(r.time_s for r in rows) < 120


def look(queue: str, *, completed: int, desired: int | None, workers: int = 1) -> QueueLook:
    return QueueLook(queue, 5, 2, 1.5, completed, workers, desired, "backlog", "waiting 5 -> 2",
                     ((0, 4), (3, 0), (6, 0), (9, 1)), 3, 1, 7, 42.0)  # fmt: skip


def test_history_keeps_decisions_and_throughput() -> None:
    history = History(["q"])
    history.add(0.0, {"q": look("q", completed=0, desired=None, workers=0)})
    history.add(1.0, {"q": look("q", completed=10, desired=2)})
    history.add(2.0, {"q": look("q", completed=30, desired=2)})
    history.add(3.0, {"q": look("q", completed=40, desired=3)})
    assert [(d.before, d.after) for d in history.decisions] == [(None, 2), (2, 3)]
    assert history.rate_per_s("q", window_s=2.0) == 15.0
    text = render.frame(history, header="demo", pools={"q": "gevent"})
    row = next(line for line in text.splitlines() if line.startswith("q "))
    # backlog, by priority, oldest, in flight, held, dead, delayed, next due, replicas ...
    assert row.split() == ["q", "gevent", "5", "9:1,0:4", "2s", "2", "3", "1", "7", "42s", "3/1",
                           "40", "13.3/s"]  # fmt: skip
    assert "2 -> 3   backlog: waiting 5 -> 2" in text
    lines = render.plain_lines(history, 3.0)
    assert lines == [
        "t=3s queue=q backlog=5 oldest=2s in_flight=2 held=3 dead=1 delayed=7 next_due=42s "
        "replicas=3/1 completed=40 rate=13.3/s reason=backlog"
    ]
    summary = render.summarize(history)[0]
    assert (summary.completed, summary.peak_desired, summary.decisions) == (40, 3, 2)
