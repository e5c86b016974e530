"""`shoal simulate` models the queues the chart deploys: for every values file in the repository,
the simulator's view of each queue (name, pool, concurrency, prefetch, fixed replicas and every
autoscaling field) equals what the real `helm template` renders: the autoscaler's ConfigMap and
each worker Deployment. Generated values files (hypothesis) hold the one resolver,
contract.chartvalues, to helm on the paths no shipped file takes."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.chartvalues import CHART_NAME, autoscaled, autoscaler_queues, resolve_queues
from scheduler.autoscaler.config import parse_config
from scheduler.simulate.values import CHART_VALUES, SimValues, chart_values, load_values, read_file
from tests.chart.helm import (
    CHART,
    VALUES,
    Obj,
    Rendered,
    deployment_container,
    env_of,
    parse,
    run_template,
)
from tests.docs.collect import yaml_block
from tests.support.tools import ROOT

KNOWN = {
    "charts/shoal/values.yaml",
    "scheduler/demo/demo-values.yaml",
    "scheduler/simulate/examples/values.yaml",
    "scheduler/simulate/examples/values-keda-defaults.yaml",
    *(f"tests/chart/values/{p.name}" for p in VALUES.glob("*.yaml")),
}
DOCS = {
    "charts/shoal/README.md (my-values.yaml)": ("charts/shoal/README.md", "name: reports"),
    "docs/install.md (values-prod.yaml)": ("docs/install.md", "name: celery"),
}
"""Values files the docs tell users to write, by the doc and a line of the block."""
SKIP_DIRS = {".venv", ".tools", ".git", "node_modules", "bad"}


def values_files() -> list[str]:
    """Every YAML file of the repository with a top-level list of queues, but the bad ones."""
    found = set()
    for path in ROOT.rglob("*.y*ml"):
        relative = path.relative_to(ROOT)
        if SKIP_DIRS & set(relative.parts) or relative.parts[0].startswith("."):
            continue
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
            continue
        if isinstance(data, dict) and isinstance(data.get("queues"), list):
            found.add(str(path.resolve().relative_to(ROOT)))
    return sorted(found)


FILES = values_files()


def test_every_known_values_file_is_compared() -> None:
    assert set(FILES) >= KNOWN, KNOWN - set(FILES)
    assert str(CHART_VALUES.resolve().relative_to(ROOT)) == "charts/shoal/values.yaml"


def source(name: str, tmp_path: Path) -> Path:
    if name in DOCS:
        doc, containing = DOCS[name]
        path = tmp_path / "values.yaml"
        path.write_text(yaml_block(doc, containing))
        return path
    return ROOT / name


def rendered(path: Path) -> Rendered:
    result = run_template([str(path)])
    assert result.returncode == 0, result.stderr
    return parse(result.stdout)


def worker_deployments(objects: Rendered) -> dict[str, Obj]:
    return {
        d["metadata"]["annotations"]["shoal.io/queue-name"]: d
        for d in objects.of_kind("Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"
    }


def autoscaler_file(objects: Rendered) -> dict[str, Any] | None:
    maps = [m for m in objects.of_kind("ConfigMap") if "autoscaler.yaml" in m["data"]]
    if not maps:
        return None
    (config_map,) = maps
    data = yaml.safe_load(config_map["data"]["autoscaler.yaml"])
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("name", [*FILES, *DOCS])
def test_the_simulator_models_what_helm_renders(name: str, tmp_path: Path) -> None:
    path = source(name, tmp_path)
    objects = rendered(path)
    sim: SimValues = load_values(path)
    workers = worker_deployments(objects)
    assert [p.name for p in sim.policies] == list(workers)

    config = autoscaler_file(objects)
    scaled = [p for p in sim.policies if p.enabled]
    if config is None:
        assert scaled == [], "autoscaled queues without an autoscaler"
    else:
        # the raw entries, every field, as the one resolver writes them
        queues = resolve_queues(chart_values(read_file(path)))
        assert config["queues"] == autoscaler_queues(queues)
        # the policies the real controller runs with are the simulator's
        assert list(parse_config(config).queues) == scaled
        assert config["pollIntervalSeconds"] == sim.poll_interval_s

    for spec in sim.specs(list(workers)):
        deployment = workers[spec.name]
        env = env_of(deployment_container(deployment))
        policy = next(p for p in sim.policies if p.name == spec.name)
        assert deployment["metadata"]["name"] == policy.deployment
        assert env["SHOAL_POOL"] == spec.pool
        assert int(env["SHOAL_CONCURRENCY"]) == spec.concurrency, spec.name
        assert int(env["SHOAL_PREFETCH_MULTIPLIER"]) == sim.prefetch[spec.name], spec.name
        assert deployment["spec"].get("replicas") == spec.fixed_replicas, spec.name


def test_the_comparison_sees_nested_overrides_and_own_resources() -> None:
    # Guards against a comparison that passes because nothing differs from the defaults.
    sim = load_values(VALUES / "queue-overrides.yaml")
    reports, emails, batch = sim.specs(["reports", "emails", "batch"])
    policies = {p.name: p for p in sim.policies}
    assert reports.concurrency == 3  # its own CPU request, not the pool's 500m
    assert policies["reports"].scale_down.stabilization_window_s == 600
    assert policies["reports"].scale_down.select_policy == "Max"
    assert [p.value for p in policies["emails"].scale_up.policies] == [50]
    assert policies["emails"].scale_up.stabilization_window_s == 30
    assert (sim.prefetch["emails"], emails.reserved_per_replica) == (2, 1)
    assert (batch.fixed_replicas, batch.start_replicas, reports.fixed_replicas) == (3, 3, None)


def test_the_chart_file_the_simulator_reads_is_the_charts() -> None:
    assert CHART_VALUES.read_text() == (CHART / "values.yaml").read_text()
    assert yaml.safe_load((CHART / "Chart.yaml").read_text())["name"] == CHART_NAME


NAMES = ["emails", "Reports.v2", "a_b-c", "x--y", "9", "z" * 63, "b" * 48 + "._" + "c" * 13]
CPUS = ["250m", "1", "1500m", 2, "2.5", "3000m"]


@st.composite
def autoscaling_block(draw: st.DrawFn, *, queue_level: bool) -> dict[str, Any]:
    block: dict[str, Any] = {}
    if draw(st.booleans()):
        block["minReplicas"] = draw(st.integers(0, 2))
    if draw(st.booleans()):
        block["maxReplicas"] = draw(st.integers(3, 20))
    if draw(st.booleans()):
        block["targetBacklogPerReplica"] = draw(st.sampled_from([None, 5, 12.5]))
    if draw(st.booleans()):
        block["cooldownSeconds"] = draw(st.sampled_from([0, 60, 300]))
    if queue_level and draw(st.booleans()):
        block["fallbackReplicas"] = None
    for direction in ("scaleUp", "scaleDown"):
        rules: dict[str, Any] = {}
        if draw(st.booleans()):
            rules["stabilizationWindowSeconds"] = draw(st.sampled_from([0, 30, 600]))
        if draw(st.booleans()):
            rules["selectPolicy"] = draw(st.sampled_from(["Max", "Min"]))
        if draw(st.booleans()):
            rules["policies"] = [
                {"type": "Pods", "value": draw(st.integers(1, 5)), "periodSeconds": 30}
            ]
        if rules:
            block[direction] = rules
    return block


@st.composite
def generated_values(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    queues = []
    for name in names:
        queue: dict[str, Any] = {"name": name, "pool": draw(st.sampled_from(["prefork", "gevent"]))}
        if draw(st.booleans()):
            queue["resources"] = {"requests": {"cpu": draw(st.sampled_from(CPUS))}}
        if draw(st.booleans()):
            queue["concurrency"] = draw(st.sampled_from([None, 3]))
        if draw(st.booleans()):
            queue["prefetchMultiplier"] = draw(st.sampled_from([None, 2]))
        autoscaling = draw(autoscaling_block(queue_level=True))
        if draw(st.booleans()):
            autoscaling["enabled"] = False
            queue["replicas"] = draw(st.integers(0, 4))
        queue["autoscaling"] = autoscaling
        queues.append(queue)
    defaults = draw(autoscaling_block(queue_level=False))
    defaults["targetLatencySeconds"] = 30  # every autoscaled queue has a target
    values: dict[str, Any] = {"queueDefaults": {"autoscaling": defaults}, "queues": queues}
    pools: dict[str, Any] = {}
    if draw(st.booleans()):
        pools["prefork"] = {"concurrency": draw(st.sampled_from([None, 4]))}
    if draw(st.booleans()):
        pools["gevent"] = {"resources": {"requests": {"cpu": draw(st.sampled_from(CPUS))}}}
    if draw(st.booleans()):
        pools.setdefault("gevent", {})["concurrency"] = None  # removes the chart's 200
    if pools:
        values["pools"] = pools
    return values


def consistent(values: dict[str, Any]) -> bool:
    """Whether the chart accepts it: minReplicas <= maxReplicas once the defaults are merged."""
    for q in resolve_queues(chart_values(values)):
        a = q["autoscaling"]
        if a["enabled"] and a["minReplicas"] > a["maxReplicas"]:
            return False
    return True


@settings(max_examples=40, deadline=None)
@given(
    values=generated_values().filter(consistent),
    release=st.sampled_from(["shoal", "prod", "r" * 39 + "-x"]),
)
def test_the_resolver_and_helm_agree_on_generated_values(
    values: dict[str, Any], release: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "values.yaml"
        path.write_text(json.dumps(values))
        result = run_template([str(path)], release=release)
    assert result.returncode == 0, result.stderr
    objects = parse(result.stdout)
    queues = resolve_queues(chart_values(values), release=release)
    config = autoscaler_file(objects)
    assert config is not None and config["queues"] == autoscaler_queues(queues)
    workers = worker_deployments(objects)
    assert list(workers) == [q["name"] for q in queues]
    for q in queues:
        deployment = workers[q["name"]]
        env = env_of(deployment_container(deployment))
        assert deployment["metadata"]["name"] == q["deployment"]
        assert deployment["metadata"]["labels"]["shoal.io/queue"] == q["slug"]
        assert int(env["SHOAL_CONCURRENCY"]) == q["concurrency"]
        assert int(env["SHOAL_PREFETCH_MULTIPLIER"]) == q["prefetchMultiplier"]
        assert deployment["spec"].get("replicas") == (None if autoscaled(q) else q["replicas"])
        assert deployment_container(deployment)["resources"] == q["resources"]
