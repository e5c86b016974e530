"""The priority lists: one function, and it files messages exactly where kombu does."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kombu.transport import redis as kombu_redis

from contract.priority import Priorities, check_steps, clamp


@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        (None, "q"),
        (0, "q"),
        (2, "q"),
        (3, "q\x06\x163"),
        (5, "q\x06\x163"),
        (5.5, "q\x06\x163"),
        (8, "q\x06\x166"),
        (9, "q\x06\x169"),
        (42, "q\x06\x169"),
        (-1, "q"),
        ("x", "q"),
        ("7", "q\x06\x166"),
    ],
)
def test_a_message_goes_to_the_list_of_its_step(priority: object, expected: str) -> None:
    assert Priorities().list_for("q", priority) == expected


class _KombuChannel:
    """Kombu's own filing rules, borrowed from its Redis channel without a connection."""

    def __init__(self, steps: list[int], sep: str) -> None:
        self.priority_steps, self.sep = steps, sep
        self.max_priority, self.min_priority, self.default_priority = 9, 0, 0

    priority = kombu_redis.Channel.priority
    _q_for_pri = kombu_redis.Channel._q_for_pri
    _get_message_priority = kombu_redis.Channel._get_message_priority


@given(
    steps=st.sets(st.integers(1, 9)).map(lambda s: sorted({0, *s})),
    sep=st.sampled_from(["\x06\x16", ":", "--"]),
    priority=st.one_of(st.none(), st.integers(-5, 20), st.sampled_from(["3", "x", "", True, 2.5])),
)
def test_filing_agrees_with_kombus_redis_channel(
    steps: list[int], sep: str, priority: object
) -> None:
    kombu = _KombuChannel(steps, sep)
    message = {"properties": {"priority": priority}}
    expected = kombu._q_for_pri("q", kombu.priority(kombu._get_message_priority(message)))
    assert Priorities(tuple(steps), sep).list_for("q", priority) == expected


@pytest.mark.parametrize("bad", [[], [3, 6], [0, 10], [0, 5.5], [0, True], [0, "3"]])
def test_steps_must_be_integers_0_to_9_including_0(bad: list[object]) -> None:
    with pytest.raises(ValueError):
        check_steps(bad)


def test_steps_are_sorted_and_unique() -> None:
    assert Priorities((9, 0, 3, 3)).steps == (0, 3, 9)
    assert clamp(None) == 0
