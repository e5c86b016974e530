"""``shoal beat --check``: exit codes, fire times, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.beat.cli import main

FILE = """
schedules:
  - name: daily-email
    task: emails.send_digest
    cron: "30 2 * * *"
    timezone: Europe/Berlin
  - name: pulse
    task: shoal.noop
    every: 90s
  - name: once
    task: shoal.noop
    at: "2026-03-29T12:00:00+02:00"
    timezone: Europe/Berlin
  - name: flag
    task: shoal.noop
    when: os.path:exists
"""


def test_check_prints_next_fire_times_across_a_dst_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(FILE)
    code = main(["--check", str(path), "--next", "3", "--from", "2026-03-28T12:00:00+00:00"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out == [
        "daily-email: cron task emails.send_digest on celery",
        "  2026-03-29T03:00:00+02:00",  # 02:30 does not exist that night: first instant after
        "  2026-03-30T02:30:00+02:00",
        "  2026-03-31T02:30:00+02:00",
        "pulse: every task shoal.noop on celery",
        "  2026-03-28T12:01:30+00:00",
        "  2026-03-28T12:03:00+00:00",
        "  2026-03-28T12:04:30+00:00",
        "once: at task shoal.noop on celery",
        "  2026-03-29T12:00:00+02:00",
        "  (no further fire times)",
        "flag: when task shoal.noop on celery",
        "  condition os.path:exists checked every 10s; fires on false -> true",
        "ok: 4 entries",
    ]


def test_check_of_a_bad_file_exits_1_naming_entry_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(FILE.replace("every: 90s", "every: 90s\n    cron: '* * * * *'"))
    assert main(["--check", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        f"shoal beat: {path}: schedules[1] 'pulse'.cron: give exactly one of every, "
        "cron, at, solar, when (found every and cron)"
    )


def test_run_with_a_bad_file_stops_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("schedules: [{name: x, task: t, cron: '0 0 * * *', timezone: Nowhere/City}]")
    assert main(["--schedules", str(path), "--redis-url", "redis://127.0.0.1:1/0"]) == 1
    assert "schedules[0] 'x'.timezone: unknown time zone 'Nowhere/City'" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "schedules:\n  - name: n\n    task: t\n    cron: '0 2 * * *'\n    cron: '0 3 * * *'\n",
            "line 5: key 'cron' appears twice in one mapping (first on line 4)",
        ),
        (
            "schedules:\n  - {name: nightly, task: t, every: 1h, priority: 5.5}\n",
            "schedules[0] 'nightly'.priority: expected an integer from 0 to 9, got 5.5",
        ),
    ],
)
def test_check_refuses_a_duplicate_key_and_a_fractional_priority(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert main(["--check", str(path)]) == 1
    assert capsys.readouterr().err == f"shoal beat: {path}: {message}\n"


def test_bad_options_name_the_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("schedules: []\n")
    redis = ["--redis-url", "redis://127.0.0.1:1/0"]
    assert main(["--schedules", str(path), *redis, "--lease-s", "0"]) == 1
    assert capsys.readouterr().err == (
        "shoal beat: --lease-s: expected a number of seconds > 0, got '0'\n"
    )
    assert main(["--schedules", str(path), *redis, "--metrics-port", "http"]) == 1
    assert capsys.readouterr().err == (
        "shoal beat: --metrics-port: expected a port from 0 to 65535, got 'http'\n"
    )
    assert main(["--check", str(path), "--log-level", "LOUD"]) == 2
    assert capsys.readouterr().err == (
        "shoal beat: --log-level: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL, "
        "got 'LOUD'\n"
    )
