"""The one resolver of a values file's queues, step by step as the chart's helpers go (the real
helm is compared with it in tests/chart/test_values_view.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.chartvalues import (
    autoscaler_queues,
    coalesce,
    compact,
    cpu_count,
    deployment_name,
    fullname,
    merge,
    queue_slug,
    resolve_queues,
)
from contract.fields import ConfigError

POOLS = {
    "prefork": {
        "concurrency": None,
        "prefetchMultiplier": 1,
        "resources": {"requests": {"cpu": "1500m"}},
    },
    "gevent": {"concurrency": 200, "prefetchMultiplier": 4, "resources": {"requests": {}}},
}
DEFAULTS: dict[str, Any] = {
    "replicas": 1,
    "imports": ["base.tasks"],
    "autoscaling": {
        "enabled": True,
        "minReplicas": 1,
        "maxReplicas": 10,
        "targetBacklogPerReplica": None,
        "cooldownSeconds": 300,
        "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max"},
    },
}


def values(*queues: dict[str, Any]) -> dict[str, Any]:
    return {"pools": POOLS, "queueDefaults": DEFAULTS, "queues": list(queues)}


def test_a_queue_overrides_one_nested_field_and_keeps_its_siblings() -> None:
    (q,) = resolve_queues(
        values(
            {
                "name": "cpu",
                "pool": "prefork",
                "autoscaling": {"scaleDown": {"selectPolicy": "Min"}},
            }
        )
    )
    assert q["autoscaling"]["scaleDown"] == {
        "stabilizationWindowSeconds": 300,
        "selectPolicy": "Min",
    }
    assert q["autoscaling"]["maxReplicas"] == 10


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"minReplicas": 0}, 0),
        ({"minReplicas": None}, None),
        ({"enabled": False}, False),
    ],
)
def test_a_queues_null_zero_or_false_wins_over_the_default(
    override: dict[str, Any], expected: object
) -> None:
    (q,) = resolve_queues(values({"name": "q", "pool": "gevent", "autoscaling": override}))
    (key,) = override
    assert key in q["autoscaling"] and q["autoscaling"][key] == expected


def test_lists_are_replaced_not_appended() -> None:
    (q,) = resolve_queues(values({"name": "q", "pool": "gevent", "imports": ["mine"]}))
    assert q["imports"] == ["mine"]


@pytest.mark.parametrize(
    ("queue", "concurrency", "resources"),
    [
        ({"pool": "prefork"}, 2, {"requests": {"cpu": "1500m"}}),  # the pool's CPU request
        (
            {"pool": "prefork", "resources": {"requests": {"cpu": "3"}}},
            3,
            {"requests": {"cpu": "3"}},
        ),
        (
            {"pool": "prefork", "resources": {"requests": {"cpu": "250m"}}},
            1,
            {"requests": {"cpu": "250m"}},
        ),
        ({"pool": "prefork", "concurrency": 7}, 7, {"requests": {"cpu": "1500m"}}),
        ({"pool": "prefork", "concurrency": None}, 2, {"requests": {"cpu": "1500m"}}),
        (
            {"pool": "gevent", "resources": {"requests": {"cpu": "4"}}},
            200,
            {"requests": {"cpu": "4"}},
        ),
        ({"pool": "prefork", "resources": None}, 1, None),
    ],
    ids=[
        "pool-cpu",
        "own-cpu",
        "own-millis",
        "own-concurrency",
        "null",
        "gevent",
        "null-resources",
    ],
)
def test_concurrency_from_the_queue_then_the_pool_then_the_cpu_request(
    queue: dict[str, Any], concurrency: int, resources: object
) -> None:
    (q,) = resolve_queues(values({"name": "q", **queue}))
    assert (q["concurrency"], q["resources"]) == (concurrency, resources)


def test_prefetch_from_the_queue_else_the_pool() -> None:
    mine, pools = resolve_queues(
        values(
            {"name": "a", "pool": "gevent", "prefetchMultiplier": 2},
            {"name": "b", "pool": "gevent"},
        )
    )
    assert (mine["prefetchMultiplier"], pools["prefetchMultiplier"]) == (2, 4)


@pytest.mark.parametrize(
    ("cpu", "count"),
    [
        (None, 1),
        ("", 1),
        (0, 1),
        ("100m", 1),
        ("1000m", 1),
        ("1001m", 2),
        ("1.5", 2),
        (2, 2),
        (2.5, 3),
        ("junk", 1),
        ("nan", 1),
    ],
)
def test_cpu_count_rounds_the_request_up(cpu: object, count: int) -> None:
    assert cpu_count(cpu) == count


@pytest.mark.parametrize(
    ("name", "slug"),
    [("emails", "emails"), ("A.b_c", "a-b-c"), ("x--y", "x--y"), ("a.-_.b", "a----b"), ("9", "9")],
)
def test_slug(name: str, slug: str) -> None:
    assert queue_slug(name) == slug


@pytest.mark.parametrize(
    ("top", "release", "full"),
    [
        ({}, "shoal", "shoal"),
        ({}, "prod", "prod-shoal"),
        ({}, "my-shoal-1", "my-shoal-1"),  # the release holds the chart's name
        ({"nameOverride": "celery"}, "prod", "prod-celery"),
        ({"fullnameOverride": "jobs"}, "prod", "jobs"),
        ({}, "r" * 39 + "-x", "r" * 39),  # cut to 40, no dash left at the end
        ({"fullnameOverride": "a" * 38 + "-.-x"}, "prod", "a" * 38),
    ],
)
def test_fullname(top: dict[str, str], release: str, full: str) -> None:
    assert fullname(top, release) == full


def test_deployment_names_are_cut_to_63_without_a_trailing_dash() -> None:
    assert deployment_name("shoal", "emails") == "shoal-worker-emails"
    assert deployment_name("shoal", "a" * 63) == "shoal-worker-" + "a" * 50
    assert deployment_name("shoal", "b" * 48 + "--" + "c" * 13) == "shoal-worker-" + "b" * 48


def test_errors_name_the_queue_and_the_field() -> None:
    with pytest.raises(ConfigError, match=r"queues\[0\]\.name: expected a queue name"):
        resolve_queues(values({"name": "a:b", "pool": "gevent"}))
    with pytest.raises(ConfigError, match=r"queues\[0\] \(q\)\.pool: expected one of gevent, "):
        resolve_queues(values({"name": "q", "pool": "threads"}))
    with pytest.raises(
        ConfigError,
        match=r"queues\[1\] \(a\.b\): name: another queue \(a_b\) gives the same Deployment name "
        r"shoal-worker-a-b",
    ):
        resolve_queues(values({"name": "a_b", "pool": "gevent"}, {"name": "a.b", "pool": "gevent"}))


def test_the_autoscaler_gets_the_autoscaled_queues_without_null_fields() -> None:
    queues = resolve_queues(
        values(
            {"name": "io", "pool": "gevent", "autoscaling": {"targetBacklogPerReplica": 5}},
            {"name": "fixed", "pool": "gevent", "autoscaling": {"enabled": False}},
        )
    )
    assert autoscaler_queues(queues) == [
        {
            "name": "io",
            "pool": "gevent",
            "concurrency": 200,
            "deployment": "shoal-worker-io",
            "autoscaling": {
                "enabled": True,
                "minReplicas": 1,
                "maxReplicas": 10,
                "targetBacklogPerReplica": 5,
                "cooldownSeconds": 300,
                "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max"},
            },
        }
    ]


def test_helm_coalesces_user_values_over_the_chart() -> None:
    chart = {
        "pools": POOLS,
        "queueDefaults": DEFAULTS,
        "queues": [{"name": "default", "pool": "prefork"}],
        "flag": True,
    }
    user = {
        "pools": {"gevent": {"concurrency": None, "prefetchMultiplier": 8}},
        "queueDefaults": {"autoscaling": {"minReplicas": 0, "cooldownSeconds": None}},
        "queues": [{"name": "mine", "pool": "gevent", "concurrency": None}],
        "flag": None,
    }
    out = coalesce(chart, user)
    assert "flag" not in out  # a user's null removes the chart's value
    assert "concurrency" not in out["pools"]["gevent"]
    assert out["pools"]["gevent"]["prefetchMultiplier"] == 8
    assert out["pools"]["gevent"]["resources"] == {"requests": {}}
    assert out["pools"]["prefork"] == POOLS["prefork"]
    autoscaling = out["queueDefaults"]["autoscaling"]
    assert autoscaling["minReplicas"] == 0 and "cooldownSeconds" not in autoscaling
    assert autoscaling["targetBacklogPerReplica"] is None  # the chart's own null stays
    assert out["queues"] == user["queues"]  # a list is replaced, its nulls kept
    assert chart["queueDefaults"] is DEFAULTS and DEFAULTS["autoscaling"]["cooldownSeconds"] == 300


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=12,
)
MAPS = st.dictionaries(st.text(max_size=2), JSON, max_size=4)


@given(MAPS, MAPS)
def test_merge_keeps_every_key_and_lets_the_over_side_win(
    base: dict[str, Any], over: dict[str, Any]
) -> None:
    out = merge(base, over)
    assert set(out) == set(base) | set(over)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            assert out[key] == merge(base[key], value)
        else:
            assert out[key] == value
    assert merge(base, {}) == base and merge({}, over) == over


@given(MAPS)
def test_compact_leaves_no_null_in_maps(data: dict[str, Any]) -> None:
    def nulls(value: object) -> bool:
        return isinstance(value, dict) and any(v is None or nulls(v) for v in value.values())

    assert not nulls(compact(data))
