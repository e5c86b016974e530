"""The pure parts of the delivery: record formats, ETA parsing, cadences, settings rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract import delayed, held
from contract import fetch as fetching
from workers.fetcher import eta_ms
from workers.settings import SettingsError, WorkerSettings, from_env, validate


@given(
    name=st.text(min_size=1, max_size=80),
    raw=st.binary(max_size=300),
)
def test_a_delayed_member_names_its_list_and_keeps_the_message_byte_for_byte(
    name: str, raw: bytes
) -> None:
    assert delayed.parse_member(delayed.member(name, raw)) == (name, raw)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2030-01-01T00:00:00+00:00", 1893456000000),
        ("2030-01-01T01:00:00.500000+01:00", 1893456000500),
        ("2030-01-01T00:00:00", None),  # naive: the app's time zone decides, Celery holds it
        ("soon", None),
        (None, None),
        (12, None),
    ],
)
def test_eta_in_epoch_ms_only_for_an_iso_time_with_a_zone(header: object, expected: object) -> None:
    assert eta_ms({"headers": {"eta": header}}) == expected


def test_eta_of_a_message_without_headers_is_none() -> None:
    assert eta_ms({}) is None
    assert eta_ms(None) is None


def test_eta_of_a_stock_countdown() -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    got = eta_ms({"headers": {"eta": when.astimezone(timezone(timedelta(hours=-5))).isoformat()}})
    assert got == int(when.timestamp() * 1000)


@pytest.mark.parametrize(
    ("timeout_s", "interval_s", "lead_ms"),
    [(5, 1.0, 2000), (6, 1.2, 2200), (20, 4.0, 5000), (60, 4.0, 5000)],
)
def test_a_worker_beats_five_times_a_timeout_and_promotes_a_beat_and_a_second_early(
    timeout_s: float, interval_s: float, lead_ms: int
) -> None:
    assert held.beat_interval_s(timeout_s) == pytest.approx(interval_s)
    assert delayed.lead_ms(held.beat_interval_s(timeout_s)) == lead_ms


def test_the_defaults_hold_together() -> None:
    validate(WorkerSettings())


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SHOAL_LIVENESS_TIMEOUT_S": "3"}, "SHOAL_LIVENESS_TIMEOUT_S"),
        ({"SHOAL_PARK_THRESHOLD_S": "4"}, "SHOAL_PARK_THRESHOLD_S"),
        ({"SHOAL_LIVENESS_TIMEOUT_S": "6", "SHOAL_PARK_THRESHOLD_S": "4"}, "PARK_THRESHOLD"),
        ({"SHOAL_PARK_THRESHOLD_S": "soon"}, "SHOAL_PARK_THRESHOLD_S"),
    ],
)
def test_a_bad_delivery_setting_is_refused_naming_it(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        from_env(env)


def test_a_short_liveness_timeout_with_its_park_threshold_is_accepted() -> None:
    settings = from_env({"SHOAL_LIVENESS_TIMEOUT_S": "6", "SHOAL_PARK_THRESHOLD_S": "5"})
    assert (settings.liveness_timeout_s, settings.park_threshold_s) == (6.0, 5.0)


def test_a_fetch_reply_reads_taken_messages_and_a_fence() -> None:
    reply = fetching.parse([1000, 2, 1, 7, b"a", 3, 8, b"b"])
    assert reply == fetching.Reply(1000, False, [fetching.Taken(1, 7, b"a"),
                                                 fetching.Taken(3, 8, b"b")])  # fmt: skip
    assert fetching.parse([1000, -1]) == fetching.Reply(1000, True, [])


def test_a_record_names_its_keys_in_its_worker_hash() -> None:
    record = held.ListRecord.of("w:1:ab", "emails", "emails\x06\x169")
    name, value = record.field()
    assert held.parse_list_field(name, value) == record
    assert held.parse_list_field("ttl_ms", "20000") is None
