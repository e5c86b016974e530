"""The schedules file: what it accepts, and the one-line errors for what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.beat.schedules import At, CatchUp, Cron, Every, Solar, When
from scheduler.beat.spec import SpecError, load_schedules, parse_duration, parse_schedules
from tests.support.tools import ROOT

DAILY_EMAIL = """
schedules:
  - name: daily-email
    task: emails.send_digest
    cron: "0 15 * * *"
    timezone: Europe/Berlin
"""


def test_the_docs_first_example_is_a_few_lines_and_loads() -> None:
    entry = parse_schedules(DAILY_EMAIL).entries[0]
    assert isinstance(entry.schedule, Cron)
    assert (entry.name, entry.signatures[0].task, entry.schedule.timezone) == (
        "daily-email", "emails.send_digest", "Europe/Berlin",
    )  # fmt: skip
    assert DAILY_EMAIL.strip() in (ROOT / "docs" / "beat.md").read_text()


def test_every_field_is_read() -> None:
    text = """
schedules:
  - name: full
    task: billing.charge
    args: [1, "two"]
    kwargs: {dry_run: true}
    queue: billing
    priority: 9
    expires: 300
    enabled: false
    startTime: "2026-01-01T00:00:00"
    endTime: 2027-01-01T00:00:00Z
    timezone: America/New_York
    catchUp: all
    startingDeadlineSeconds: 120
    every: 1h30m
"""
    entry = parse_schedules(text).entries[0]
    sig = entry.signatures[0]
    assert (sig.task, sig.args, dict(sig.kwargs), sig.queue, sig.priority) == (
        "billing.charge", (1, "two"), {"dry_run": True}, "billing", 9,
    )  # fmt: skip
    assert (entry.expires_s, entry.enabled, entry.catch_up, entry.starting_deadline_s) == (
        300.0, False, CatchUp.ALL, 120.0,
    )  # fmt: skip
    assert entry.window.start == datetime(2026, 1, 1, 5, 0, tzinfo=UTC)  # New York midnight
    assert entry.window.end == datetime(2027, 1, 1, tzinfo=UTC)
    assert entry.schedule == Every(5400.0, anchor=entry.window.start)


def test_each_schedule_kind_and_chain_and_group() -> None:
    text = """
schedules:
  - {name: a, task: t, at: "2030-01-01T09:00:00+01:00"}
  - {name: b, task: t, solar: {event: dusk_nautical, latitude: 48.1, longitude: 11.6}}
  - {name: c, task: t, when: "myapp.checks:disk_full", checkEverySeconds: 30}
  - name: d
    cron: "*/5 * * * *"
    queue: etl
    chain:
      - {task: etl.extract, args: [1]}
      - {task: etl.load, queue: warehouse, immutable: true}
  - name: e
    every: 10s
    group:
      - {task: report.a}
      - {task: report.b, priority: 3}
"""
    a, b, c, d, e = parse_schedules(text).entries
    assert a.schedule == At(datetime(2030, 1, 1, 8, 0, tzinfo=UTC))
    assert isinstance(b.schedule, Solar) and b.schedule.event.value == "dusk_nautical"
    assert c.schedule == When("myapp.checks:disk_full", 30.0)
    assert d.mode == "chain"
    assert [(s.task, s.queue, s.immutable) for s in d.signatures] == [
        ("etl.extract", "etl", False), ("etl.load", "warehouse", True),
    ]  # fmt: skip
    assert e.mode == "group" and [s.priority for s in e.signatures] == [None, 3]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: a, task: t, every: 5s, colour: red}",
         "schedules[0] 'a', field 'colour': unknown field"),
        ('{name: a, task: t, cron: "61 * * * *"}',
         "field 'cron': minute field: 61 is outside 0-59"),
        ('{name: a, task: t, cron: "* * *"}', "field 'cron': '* * *' has 3 fields"),
        ('{name: a, task: t, cron: "0 1 * * *", timezone: Mars/Olympus}',
         "field 'timezone': unknown time zone 'Mars/Olympus'"),
        ('{name: a, task: t, every: 5s, cron: "* * * * *"}',
         "field 'cron': give exactly one of every, cron, at, solar, when (found every and cron)"),
        ("{name: a, task: t}", "schedules[0] 'a': give exactly one of every"),
        ("{name: a, every: 5s}", "field 'task': give exactly one of task, chain or group"),
        ("{name: a, task: t, chain: [{task: u}], every: 5s}", "field 'chain': give exactly one"),
        ("{name: a, task: t, every: 0s}", "field 'every': must be greater than zero"),
        ("{name: a, task: t, every: soon}", "field 'every': 'soon' is not a duration"),
        ("{name: a, task: t, every: 5s, priority: 10}", "field 'priority': 10 is out of range"),
        ("{name: a, task: t, every: 5s, catchUp: some}",
         "field 'catchUp': must be none, latest or all"),
        ("{name: a, task: t, every: 5s, args: 3}", "field 'args': expected a list"),
        ("{name: a, task: t, every: 5s, enabled: maybe}",
         "field 'enabled': expected true or false"),
        ("{name: a, task: t, at: tomorrow}", "field 'at': 'tomorrow' is not an ISO date-time"),
        ("{name: a, task: t, solar: {event: moonrise, latitude: 1, longitude: 2}}",
         "field 'solar': event must be one of sunrise"),
        ("{name: a, task: t, solar: {event: sunset, latitude: 91, longitude: 2}}",
         "field 'latitude': 91 is out of range"),
        ("{name: a, task: t, when: not-a-path}", "field 'when': 'not-a-path' is not a dotted path"),
        ("{name: a, chain: [{task: u, foo: 1}], every: 5s}",
         "schedules[0] 'a', chain[0], field 'foo': unknown field"),
        ("{name: 'a b', task: t, every: 5s}", "field 'name': 'a b' is not a name"),
        ("{name: a, task: t, every: 5s, startTime: 2026-02-01, endTime: 2026-01-01}",
         "field 'endTime': must be after startTime"),
    ],
)  # fmt: skip
def test_bad_entries_name_the_entry_and_the_field(entry: str, message: str) -> None:
    text = f"schedules:\n  - {entry}\n  - {{name: ok, task: t, every: 1m}}\n"
    with pytest.raises(SpecError) as caught:
        parse_schedules(text)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "top-level 'schedules:' list"),
        ("schedules: {a: 1}", "must be a list"),
        ("schedules: []\nextra: 1", "field 'extra': unknown top-level field"),
        ("schedules: [{name: a, task: t, every: 1s}, {name: a, task: t, every: 2s}]",
         "schedules\\[1\\] 'a', field 'name': is used twice"),
        ("schedules: [", "not valid YAML"),
    ],
)  # fmt: skip
def test_bad_files(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_schedules(text)


def test_empty_schedule_list_is_valid() -> None:
    assert parse_schedules("schedules: []").entries == ()


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_schedules(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("1h30m", 5400),
        ("500ms", 0.5),
        (2, 2.0),
        ("1d", 86400),
    ],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds
