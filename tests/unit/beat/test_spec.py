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
         "schedules[0] 'a'.colour: unknown field (check the spelling)"),
        ('{name: a, task: t, cron: "61 * * * *"}',
         "schedules[0] 'a'.cron: minute field: 61 is outside 0-59"),
        ('{name: a, task: t, cron: "* * *"}', "'a'.cron: '* * *' has 3 fields"),
        ('{name: a, task: t, cron: "0 1 * * *", timezone: Mars/Olympus}',
         "'a'.timezone: unknown time zone 'Mars/Olympus'"),
        ('{name: a, task: t, every: 5s, cron: "* * * * *"}',
         "'a'.cron: give exactly one of every, cron, at, solar, when (found every and cron)"),
        ("{name: a, task: t}", "schedules[0] 'a': give exactly one of every"),
        ("{name: a, every: 5s}", "'a'.task: give exactly one of task, chain or group"),
        ("{name: a, task: t, chain: [{task: u}], every: 5s}", "'a'.chain: give exactly one"),
        ("{name: a, chain: [], every: 5s}", "'a'.chain: needs at least one signature"),
        ("{name: a, chain: [3], every: 5s}",
         "'a'.chain[0]: expected a signature (a mapping with a task), got 3"),
        ("{name: a, task: t, every: 0s}", "'a'.every: expected a duration above 0 such as 30s"),
        ("{name: a, task: t, every: soon}", "'a'.every: expected a duration above 0 such as 30s"),
        ("{name: a, task: t, every: .inf}", "'a'.every: expected a duration above 0 such as 30s"),
        ("{name: a, task: t, every: 5s, priority: 10}",
         "schedules[0] 'a'.priority: expected an integer from 0 to 9, got 10"),
        ("{name: a, task: t, every: 5s, catchUp: some}",
         "'a'.catchUp: expected one of none, latest, all, got 'some'"),
        ("{name: a, task: t, every: 5s, args: 3}", "'a'.args: expected a list, got 3"),
        ("{name: a, task: t, every: 5s, enabled: maybe}",
         "'a'.enabled: expected true or false, got 'maybe'"),
        ("{name: a, task: t, at: tomorrow}", "'a'.at: 'tomorrow' is not an ISO date-time"),
        ("{name: a, task: t, solar: {event: moonrise, latitude: 1, longitude: 2}}",
         "'a'.solar.event: expected one of sunrise, sunset, noon"),
        ("{name: a, task: t, solar: {event: sunset, latitude: 91, longitude: 2}}",
         "'a'.solar.latitude: expected a number from -90 to 90, got 91"),
        ("{name: a, task: t, solar: {event: sunset, longitude: 2}}",
         "'a'.solar.latitude: is required"),
        ("{name: a, task: t, when: not-a-path}",
         "'a'.when: expected a dotted path to a callable (pkg.module:func), got 'not-a-path'"),
        ("{name: a, chain: [{task: u, foo: 1}], every: 5s}",
         "schedules[0] 'a'.chain[0].foo: unknown field"),
        ("{name: 'a b', task: t, every: 5s}",
         "schedules[0].name: expected a name (letters, digits, _ . -, at most 100), got 'a b'"),
        ("{task: t, every: 5s}", "schedules[0].name: is required"),
        ("{name: a, task: t, every: 5s, queue: 'bad name'}",
         "'a'.queue: expected a queue name (1-63 letters"),
        ("{name: a, task: t, every: 5s, expires: 0}",
         "'a'.expires: expected a number of seconds > 0, got 0"),
        ("{name: a, task: t, every: 5s, startTime: 2026-02-01, endTime: 2026-01-01}",
         "'a'.endTime: must be after startTime"),
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
        ("schedules: {a: 1}", "^schedules: expected a list of entries, got a mapping$"),
        ("schedules: []\nextra: 1", "^extra: unknown field"),
        ("schedules: [{name: a, task: t, every: 1s}, {name: a, task: t, every: 2s}]",
         "^schedules\\[1\\] 'a'.name: is used twice \\(first by schedules\\[0\\]\\)$"),
        ("schedules: [", "^not valid YAML: line 1, column 13: "),
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


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: nightly, task: t, every: 1h, priority: 5.5}",
         "schedules[0] 'nightly'.priority: expected an integer from 0 to 9, got 5.5"),
        ("{name: nightly, every: 1h, chain: [{task: a}, {task: b, priority: 2.5}]}",
         "schedules[0] 'nightly'.chain[1].priority: expected an integer from 0 to 9, got 2.5"),
        ("{name: nightly, task: t, every: 1h, priority: '5'}",
         "schedules[0] 'nightly'.priority: expected an integer from 0 to 9, got '5'"),
        ("{name: nightly, task: t, every: 1h, priority: true}",
         "schedules[0] 'nightly'.priority: expected an integer from 0 to 9, got True"),
    ],
)  # fmt: skip
def test_a_fractional_priority_is_an_error_naming_the_entry_and_the_field(
    entry: str, message: str
) -> None:
    # It used to be truncated silently: 5.5 published as 5.
    with pytest.raises(SpecError) as caught:
        parse_schedules(f"schedules:\n  - {entry}\n")
    assert str(caught.value) == message


def test_a_whole_priority_written_as_a_float_reads_as_that_integer() -> None:
    # As through Helm, which writes every number of the values as a float.
    entry = parse_schedules("schedules: [{name: n, task: t, every: 1h, priority: 5.0}]").entries[0]
    (signature,) = entry.signatures
    assert signature.priority == 5 and isinstance(signature.priority, int)


TWO_CRONS = """schedules:
  - name: nightly
    task: reports.build
    cron: "0 2 * * *"
    cron: "0 3 * * *"
"""


def test_a_key_given_twice_in_one_entry_is_an_error_naming_the_key_and_its_lines() -> None:
    # PyYAML alone keeps the last: this entry used to fire at 03:00 with no word said.
    with pytest.raises(SpecError) as caught:
        parse_schedules(TWO_CRONS)
    assert str(caught.value) == "line 5: key 'cron' appears twice in one mapping (first on line 4)"


def test_a_name_given_twice_in_the_file_level_mapping_is_an_error() -> None:
    with pytest.raises(SpecError, match=r"^line 3: key 'schedules' appears twice .*line 1\)$"):
        parse_schedules("schedules: []\n# more\nschedules: []\n")


def test_a_spec_error_reads_where_colon_what_however_it_is_raised() -> None:
    assert str(SpecError("not valid YAML")) == "not valid YAML"
    assert str(SpecError("schedules[0] 'a'", "is wrong")) == "schedules[0] 'a': is wrong"
    error = SpecError("schedules[0] 'a'", "cron", "is wrong")
    assert (str(error), error.field) == ("schedules[0] 'a'.cron: is wrong", "cron")
    assert str(SpecError("schedules[0] 'a'", None, "is wrong")) == "schedules[0] 'a': is wrong"
