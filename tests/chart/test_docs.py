"""The chart README documents every value, and the docs name what the chart really renders."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.chart import values_doc
from tests.support.tools import ROOT

# Free-form maps (labels) and Kubernetes objects are documented as one value each.
STOP = (*values_doc.OPAQUE_SUFFIXES, "labels", "beat.livenessProbe", "beat.readinessProbe")


def leaf_paths(tree: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(tree, dict) and tree and not prefix.endswith(STOP):
        for key, value in tree.items():
            yield from leaf_paths(value, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix


def test_the_readme_values_table_is_generated_from_the_current_schema() -> None:
    assert values_doc.main(["--check"]) == 0, "run `python -m tests.chart.values_doc`"


def test_every_key_of_values_yaml_has_a_row_in_the_readme() -> None:
    readme = values_doc.README.read_text()
    values = values_doc.values()
    paths = [p for p in leaf_paths(values) if not p.startswith("queues")]
    assert len(paths) > 80
    missing = [p for p in paths if f"| `{p}` |" not in readme]
    assert missing == []
    for field in ("name", "pool", "concurrency", "autoscaling.minReplicas", "imports"):
        assert f"| `queues[].{field}` |" in readme


def test_every_row_has_a_description() -> None:
    rows = values_doc.table().splitlines()[2:]
    assert len(rows) > 150
    undocumented = [r for r in rows if r.rstrip().endswith("|  |")]
    assert undocumented == []


def test_the_install_guide_covers_install_operate_values_and_the_image() -> None:
    guide = (ROOT / "docs" / "install.md").read_text()
    for needed in (
        "helm install",
        "helm upgrade",
        "values.schema.json",
        "FROM ghcr.io/shoal/shoal",
        "SHOAL_IMPORTS",
        "k8s/overlays/example",
        "replicas",
        "ShoalQueueLatencyHigh",
        "kube-score",
        "hadolint",
    ):
        assert needed in guide, needed
