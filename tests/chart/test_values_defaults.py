"""Every setting the chart feeds agrees with values.yaml and values.schema.json (as kopf's
tests/settings/test_defaults.py pins its defaults).

For each declaration with a Helm path (:mod:`contract.fields`), ``values.yaml`` holds the
declared default at that path and the schema states the same type, bounds, enum, pattern and
default. What the chart states differently on purpose is in the declaration's ``Helm.differs``
(with the reason), so a change in one place only fails here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from contract.fields import Setting, declared
from contract.pools import GEVENT_CONCURRENCY, Pool, default_prefetch_multiplier
from contract.yamlfile import load_strict
from scheduler.autoscaler.rules import QueuePolicy
from tests.support.declarations import unique_settings
from tests.support.tools import ROOT

CHART = ROOT / "charts" / "shoal"
VALUES = load_strict((CHART / "values.yaml").read_text())
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
COMPARED = ("type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum",
            "pattern", "minLength", "default", "items", "properties")  # fmt: skip
ABSENT = object()


FED_BY_HELM = sorted(
    (s for s in unique_settings() if s.helm_path), key=lambda s: (s.helm_path or "", s.doc)
)


def expected(setting: Setting[Any]) -> dict[str, Any]:
    return {**setting.schema(), **setting.helm_differs}


def schema_at(path: str) -> dict[str, Any]:
    node = SCHEMA
    for part in path.split("."):
        name = part.removesuffix("[]")
        assert name in node.get("properties", {}), f"values.schema.json has no {path}"
        node = node["properties"][name]
        if part.endswith("[]"):
            node = node["items"]
    return node


def value_at(path: str) -> object:
    node: Any = VALUES
    for part in path.split("."):
        if part.endswith("[]"):
            return ABSENT  # a list's items have no default in values.yaml
        assert isinstance(node, dict) and part in node, f"values.yaml has no {path}"
        node = node[part]
    return node


def disagreements(want: dict[str, Any], have: dict[str, Any], where: str) -> list[str]:
    """What the schema node ``have`` states unlike ``want``; the default only where present."""
    out = []
    for key in COMPARED:
        mine, theirs = want.get(key, ABSENT), have.get(key, ABSENT)
        if key == "default" and theirs is ABSENT:
            continue
        if key == "type" and mine is not ABSENT and theirs is not ABSENT:
            mine, theirs = sorted(_list(mine)), sorted(_list(theirs))
        if key in ("items", "properties") and mine is not ABSENT and theirs is not ABSENT:
            out += _nested(key, mine, theirs, where)
        elif mine != theirs:
            mine_text = "nothing" if mine is ABSENT else repr(mine)
            theirs_text = "nothing" if theirs is ABSENT else repr(theirs)
            out.append(f"{where}: {key} is {mine_text} in the code, {theirs_text} in the schema")
    return out


def _nested(key: str, mine: Any, theirs: Any, where: str) -> list[str]:
    if key == "items":
        return disagreements(mine, theirs, f"{where}[]")
    out = []
    if set(mine) != set(theirs):
        out.append(f"{where}: keys {sorted(mine)} in the code, {sorted(theirs)} in the schema")
    for name in set(mine) & set(theirs):
        out += disagreements(mine[name], theirs[name], f"{where}.{name}")
    return out


def _list(value: object) -> list[str]:
    return list(value) if isinstance(value, list) else [str(value)]


def test_the_declarations_cover_what_the_chart_feeds_the_processes() -> None:
    paths = {s.helm_path for s in FED_BY_HELM}
    assert {
        "priority.steps",
        "priority.separator",
        "redis.url",
        "queues[].name",
        "queues[].pool",
        "queues[].concurrency",
        "queueDefaults.drainTimeoutSeconds",
        "queueDefaults.logLevel",
        "queueDefaults.autoscaling.minReplicas",
        "queueDefaults.autoscaling.scaleDown",
        "workers.metricsPort",
        "beat.metricsPort",
        "autoscaler.pollIntervalSeconds",
        "autoscaler.leaderElection.leaseDurationSeconds",
    } <= paths


@pytest.mark.parametrize("setting", FED_BY_HELM, ids=lambda s: s.helm_path)
def test_values_yaml_holds_the_declared_default(setting: Setting[Any]) -> None:
    assert setting.helm_path is not None
    value = value_at(setting.helm_path)
    if value is ABSENT:
        return
    want = expected(setting)
    if "properties" in want:  # a block: every key of it, as the code's default instance has it
        assert isinstance(value, dict), setting.helm_path
        want_values = {k: p.get("default") for k, p in want["properties"].items()}
        assert value == want_values, setting.helm_path
    else:
        assert value == want["default"], f"{setting.helm_path}: {value!r} != {want['default']!r}"


@pytest.mark.parametrize("setting", FED_BY_HELM, ids=lambda s: s.helm_path)
def test_the_schema_states_what_the_declaration_states(setting: Setting[Any]) -> None:
    path = setting.helm_path
    assert path is not None
    paths = [path]
    if path.startswith("queueDefaults."):  # a queue entry takes any key of queueDefaults
        paths.append("queues[]." + path.removeprefix("queueDefaults."))
    problems = [p for at in paths for p in disagreements(expected(setting), schema_at(at), at)]
    assert not problems, "\n".join(problems)


def test_the_autoscaling_block_has_the_same_keys_in_the_code_and_the_chart() -> None:
    keys = {
        s.key.removeprefix("autoscaling.")
        for s in declared(QueuePolicy).values()
        if s.key and s.key.startswith("autoscaling.")
    }
    for path in ("queueDefaults.autoscaling", "queues[].autoscaling"):
        assert set(schema_at(path)["properties"]) == keys, path
    assert set(VALUES["queueDefaults"]["autoscaling"]) == keys


def test_the_pool_defaults_are_the_workers() -> None:
    pools = VALUES["pools"]
    assert pools["gevent"]["concurrency"] == GEVENT_CONCURRENCY
    assert pools["prefork"]["concurrency"] is None  # the CPU request, as the worker's CPU count
    for pool in Pool:
        assert pools[pool.value]["prefetchMultiplier"] == default_prefetch_multiplier(pool)
    assert set(pools) == {pool.value for pool in Pool}


def test_a_difference_on_purpose_says_why() -> None:
    for setting in FED_BY_HELM:
        if setting.helm_differs:
            assert not isinstance(setting.helm, str) and setting.helm.why, setting.helm_path
