"""The Redis key contract and the priority transport's list mapping."""

from __future__ import annotations

import pytest

from contract.inflight import decode as decode_inflight
from contract.inflight import encode as encode_inflight
from contract.priority import priority_lists
from workers.transport import transport_for


@pytest.mark.parametrize(
    ("raw", "now_ms", "count"),
    [
        ("3 2000", 1000, 3),  # fresh
        ("3 1000", 1000, 0),  # expired exactly now
        (b"7 5000", 4999, 7),  # bytes from redis-py
        ("garbage", 0, 0),  # unreadable counts as nothing
        ("4", 0, 0),  # no expiry part
    ],
)
def test_inflight_entries_count_only_until_they_expire(raw: str, now_ms: int, count: int) -> None:
    assert decode_inflight(raw, now_ms) == count


def test_inflight_round_trips() -> None:
    assert decode_inflight(encode_inflight(12, 10_000), 9_999) == 12


def test_priority_lists_follow_kombus_naming() -> None:
    assert priority_lists("emails") == [
        "emails",
        "emails\x06\x163",
        "emails\x06\x166",
        "emails\x06\x169",
    ]
    assert priority_lists("q", (9, 0, 5), ":") == ["q", "q:5", "q:9"]


@pytest.mark.parametrize(
    ("url", "transport"),
    [
        ("redis://h:6379/0", "workers.transport:Transport"),
        ("rediss://h:6380/0", "workers.transport:Transport"),
        ("sentinel://h:26379", "workers.transport:SentinelTransport"),
    ],
)
def test_transport_is_chosen_by_url_scheme(url: str, transport: str) -> None:
    assert transport_for(url) == transport


def test_channel_files_by_kombus_steps_but_consumes_highest_first() -> None:
    from workers.transport import _DescendingPriorities

    class Base:
        priority_steps = [0, 3, 6, 9]

        def __init__(self) -> None:
            pass

    class Probe(_DescendingPriorities, Base):
        pass

    channel = Probe()
    assert channel.priority_steps == [9, 6, 3, 0]  # consumption order
    assert [channel.priority(p) for p in range(10)] == [0, 0, 0, 3, 3, 3, 6, 6, 6, 9]
