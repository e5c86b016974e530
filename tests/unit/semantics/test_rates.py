"""Rate parsing (SHOAL_RATE_LIMITS) and which limits apply to a task."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.ratelimit import default_burst, limits_for
from workers.settings import RateLimit, SettingsError, from_env, parse_rate


@pytest.mark.parametrize(
    ("raw", "per_second"),
    [("5/s", 5.0), ("100/m", 100 / 60), ("1000/h", 1000 / 3600), ("0.5/s", 0.5), (" 2/s ", 2.0)],
)
def test_parse_rate_reads_a_count_per_unit(raw: str, per_second: float) -> None:
    assert parse_rate("SHOAL_RATE_LIMITS", raw) == pytest.approx(per_second)


@pytest.mark.parametrize("raw", ["5", "5/d", "/s", "0/s", "-1/s", "five/s", "5/sec", ""])
def test_parse_rate_names_the_setting_on_bad_input(raw: str) -> None:
    with pytest.raises(SettingsError, match="SHOAL_RATE_LIMITS: expected a rate like 5/s"):
        parse_rate("SHOAL_RATE_LIMITS", raw)


def test_rate_limits_setting_reads_queue_and_task_scopes() -> None:
    settings = from_env({"SHOAL_RATE_LIMITS": "queue:emails=5/s,task:billing.charge=120/m"})
    assert settings.rate_limits == (
        RateLimit("queue", "emails", 5.0),
        RateLimit("task", "billing.charge", 2.0),
    )
    assert [limit.key for limit in settings.rate_limits] == [
        "queue:emails",
        "task:billing.charge",
    ]


@pytest.mark.parametrize("raw", ["emails=5/s", "host:emails=5/s", "queue:=5/s", "queue:emails"])
def test_rate_limits_setting_rejects_entries_without_scope_name_or_rate(raw: str) -> None:
    with pytest.raises(SettingsError, match="SHOAL_RATE_LIMITS"):
        from_env({"SHOAL_RATE_LIMITS": raw})


LIMITS = (
    RateLimit("queue", "emails", 5.0),
    RateLimit("task", "billing.charge", 2.0),
    RateLimit("task", "emails.send", 1.0),
)


@pytest.mark.parametrize(
    ("task", "queue", "keys"),
    [
        ("emails.send", "emails", ["queue:emails", "task:emails.send"]),
        ("billing.charge", "billing", ["task:billing.charge"]),
        ("billing.refund", "billing", []),
        ("emails.digest", "emails", ["queue:emails"]),
        ("emails.digest", None, []),
    ],
)
def test_limits_for_picks_the_task_and_queue_limits(
    task: str, queue: str | None, keys: list[str]
) -> None:
    assert sorted(limit.key for limit in limits_for(task, queue, LIMITS)) == keys


@given(st.floats(min_value=1e-6, max_value=1e9, allow_nan=False))
def test_the_default_burst_is_one_second_of_tokens_and_at_least_one(rate: float) -> None:
    burst = default_burst(rate)
    assert burst >= 1.0
    assert burst == max(1.0, rate)
