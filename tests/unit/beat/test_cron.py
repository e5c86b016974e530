"""Cron maths: parsing, tables, the documented DST rules, and agreement with croniter."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from scheduler.beat.cli import fire_times
from scheduler.beat.cron import CronError, next_cron, parse_cron, zone
from scheduler.beat.spec import parse_schedules

BERLIN = ZoneInfo("Europe/Berlin")


def fires(expr: str, tz_name: str, start: datetime, count: int) -> list[str]:
    tz = zone(tz_name)
    parsed = parse_cron(expr)
    out: list[str] = []
    cursor = start
    for _ in range(count):
        nxt = next_cron(parsed, tz, cursor)
        assert nxt is not None
        out.append(nxt.astimezone(tz).strftime("%m-%d %H:%M%z"))
        cursor = nxt
    return out


@pytest.mark.parametrize(
    ("expr", "start", "expected"),
    [
        ("0 15 * * *", datetime(2026, 5, 4, 15, 0, tzinfo=BERLIN), ["05-05 15:00+0200"]),
        ("0 15 * * *", datetime(2026, 5, 4, 14, 59, tzinfo=BERLIN), ["05-04 15:00+0200"]),
        ("*/20 9 * * *", datetime(2026, 5, 4, 9, 15, tzinfo=BERLIN),
         ["05-04 09:20+0200", "05-04 09:40+0200", "05-05 09:00+0200"]),
        ("0 9 * * mon-fri", datetime(2026, 5, 8, 10, 0, tzinfo=BERLIN),
         ["05-11 09:00+0200", "05-12 09:00+0200"]),
        ("0 0 1 jan *", datetime(2026, 5, 1, tzinfo=BERLIN), ["01-01 00:00+0100"]),
        ("0 0 29 2 *", datetime(2026, 1, 1, tzinfo=BERLIN), ["02-29 00:00+0100"]),  # 2028
        ("0 12 13 * 5", datetime(2026, 2, 1, tzinfo=BERLIN),  # the 13th OR a Friday
         ["02-06 12:00+0100", "02-13 12:00+0100", "02-20 12:00+0100"]),
        ("0 0 * * 7", datetime(2026, 5, 4, tzinfo=BERLIN), ["05-10 00:00+0200"]),  # 7 = Sunday
        ("@hourly", datetime(2026, 5, 4, 10, 30, tzinfo=BERLIN), ["05-04 11:00+0200"]),
        ("5/20 * * * *", datetime(2026, 5, 4, 10, 30, tzinfo=BERLIN),
         ["05-04 10:45+0200", "05-04 11:05+0200"]),
    ],
)  # fmt: skip
def test_next_fire_times_table(expr: str, start: datetime, expected: list[str]) -> None:
    assert fires(expr, "Europe/Berlin", start, len(expected)) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("61 * * * *", "minute field: 61 is outside 0-59"),
        ("* 24 * * *", "hour field: 24 is outside 0-23"),
        ("* * * * * *", "has 6 fields"),
        ("* * 0 * *", "day-of-month field: 0 is outside 1-31"),
        ("*/0 * * * *", "step '0' must be a positive number"),
        ("5-1 * * * *", "range '5-1' runs backwards"),
        ("* * * foo *", "month field: 'foo' is not a number"),
        ("0 0 31 2 *", "matches no date"),
    ],
)
def test_bad_expressions_are_refused_naming_the_field(expr: str, message: str) -> None:
    with pytest.raises(CronError, match=message):
        parse_cron(expr)


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(CronError, match="unknown time zone 'Europe/Atlantis'"):
        zone("Europe/Atlantis")


# -- daylight saving: the documented choices ---------------------------------------------
SPRING = datetime(2026, 3, 28, 23, 0, tzinfo=BERLIN)  # 29 March: 02:00 -> 03:00
AUTUMN = datetime(2026, 10, 24, 23, 0, tzinfo=BERLIN)  # 25 October: 03:00 -> 02:00


@pytest.mark.parametrize(
    ("expr", "start", "expected"),
    [
        # a fixed time in the skipped hour fires once, at the first instant after the gap
        ("30 2 * * *", SPRING, ["03-29 03:00+0200", "03-30 02:30+0200"]),
        ("*/15 2 * * *", SPRING, ["03-29 03:00+0200", "03-30 02:00+0200"]),
        ("0 2,3 * * *", SPRING, ["03-29 03:00+0200", "03-30 02:00+0200"]),
        # a fixed time in the repeated hour fires once, at its first (summer-time) occurrence
        ("30 2 * * *", AUTUMN, ["10-25 02:30+0200", "10-26 02:30+0100"]),
        ("0 2-3 * * *", AUTUMN, ["10-25 02:00+0200", "10-25 03:00+0100"]),
        # hour field `*` follows elapsed time: nothing in the gap, both passes of the fold
        ("30 * * * *", SPRING, ["03-28 23:30+0100", "03-29 00:30+0100", "03-29 01:30+0100",
                                "03-29 03:30+0200"]),
        ("30 * * * *", AUTUMN + (datetime(2026, 10, 25, 1, 0) - datetime(2026, 10, 24, 23, 0)),
         ["10-25 01:30+0200", "10-25 02:30+0200", "10-25 02:30+0100", "10-25 03:30+0100"]),
    ],
)  # fmt: skip
def test_daylight_saving_rules(expr: str, start: datetime, expected: list[str]) -> None:
    assert fires(expr, "Europe/Berlin", start, len(expected)) == expected


def test_southern_hemisphere_gap_shifts_to_the_end_of_the_gap() -> None:
    # Sydney, 4 October 2026: 02:00 -> 03:00
    start = datetime(2026, 10, 3, 12, 0, tzinfo=ZoneInfo("Australia/Sydney"))
    assert fires("30 2 * * *", "Australia/Sydney", start, 2) == [
        "10-04 03:00+1100",
        "10-05 02:30+1100",
    ]


# -- agreement with croniter -------------------------------------------------------------
ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney")
TRANSITION_DAYS = [(3, 7), (3, 8), (3, 28), (3, 29), (4, 4), (4, 5),
                   (10, 3), (10, 4), (10, 24), (10, 25), (10, 31), (11, 1)]  # fmt: skip


def random_field(rng: random.Random, low: int, high: int, star_p: float) -> str:
    if rng.random() < star_p:
        return "*"
    kind = rng.randrange(5)
    if kind == 0:
        return f"*/{rng.randint(2, max(2, (high - low) // 2))}"
    if kind == 1:
        return str(rng.randint(low, high))
    if kind == 2:
        return ",".join(map(str, sorted(rng.sample(range(low, high + 1), 3))))
    a = rng.randint(low, high - 1)
    b = rng.randint(a + 1, high)
    return f"{a}-{b}" if kind == 3 else f"{a}-{b}/{rng.randint(2, 3)}"


def random_expr(rng: random.Random) -> str:
    return " ".join(
        [
            random_field(rng, 0, 59, 0.1),
            random_field(rng, 0, 23, 0.3),
            random_field(rng, 1, 28, 0.7),
            random_field(rng, 1, 12, 0.8),
            random_field(rng, 0, 6, 0.7),
        ]
    )


def is_second_pass(instant: datetime, tz: ZoneInfo) -> bool:
    """The instant is the second occurrence of a repeated wall-clock time."""
    wall = instant.astimezone(tz).replace(tzinfo=None)
    first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    return first.utcoffset() != second.utcoffset() and instant == second.astimezone(UTC)


def test_fire_times_agree_with_croniter_except_the_documented_dst_choice() -> None:
    """200 seeded expressions x 3 zones, from the 1st of each month of 2026 and from the days
    around every DST change. croniter also fires the second pass of a repeated wall-clock
    time for fixed-hour entries; shoal documents that it does not. Nothing else may differ."""
    rng = random.Random(20260329)
    compared = dropped = 0
    mismatches: list[str] = []
    for _ in range(200):
        expr = random_expr(rng)
        parsed = parse_cron(expr)
        entries = {
            tz_name: parse_schedules(
                f"schedules: [{{name: e, task: t, cron: '{expr}', timezone: {tz_name}}}]"
            ).entries[0]
            for tz_name in ZONES
        }
        for tz_name in ZONES:
            tz = ZoneInfo(tz_name)
            starts = [datetime(2026, month, 1, tzinfo=tz) for month in range(1, 13)]
            starts += [
                datetime(2026, m, d, h, tzinfo=tz) for m, d in TRANSITION_DAYS for h in (0, 1)
            ]
            for start in starts:
                it = croniter(expr, start)
                theirs: list[datetime] = []
                while len(theirs) < 3:
                    instant = it.get_next(datetime).astimezone(UTC)
                    if not parsed.wildcard_hour and is_second_pass(instant, tz):
                        dropped += 1  # the documented difference
                        continue
                    theirs.append(instant)
                ours = fire_times(entries[tz_name], start, 3)  # what --check prints
                compared += 1
                if ours != theirs:
                    mismatches.append(f"{expr} {tz_name} from {start}: {ours} != {theirs}")
    assert mismatches == []
    assert compared == 200 * 3 * 36
    assert dropped > 0  # the DST days really were exercised
