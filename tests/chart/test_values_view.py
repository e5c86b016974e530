"""`shoal simulate` models the queues the chart deploys: for every values file in the repository,
the simulator's view of each queue (name, pool, concurrency, prefetch, fixed replicas and every
autoscaling field) equals what the real `helm template` renders: the autoscaler's ConfigMap and
each worker Deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from contract.chartvalues import autoscaler_queues, resolve_queues
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
    "docs/install.md (values-prod.yaml)": ("docs/install.md", "name: default"),
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
