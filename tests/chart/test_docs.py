"""The chart README documents every value, and the docs name what the chart really renders."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.chart import values_doc
from tests.chart.helm import CHART, NAMESPACE, VALUES, helm_cmd
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


def rendered_notes(tmp_path: Path, *sets: str) -> str:
    """NOTES.txt as `helm install` prints it: `helm template` skips NOTES, so a copy of the
    chart gets one more template that includes it."""
    chart = tmp_path / "shoal"
    shutil.copytree(CHART, chart)
    (chart / "templates" / "notes-rendered.yaml").write_text(
        'notes: |\n{{ include "shoal/templates/NOTES.txt" . | indent 2 }}\n'
    )
    cmd = helm_cmd("template", "shoal", str(chart), "--namespace", NAMESPACE)
    cmd += ["--values", str(VALUES / "multi-queue.yaml")]
    for s in sets:
        cmd += ["--set", s]
    cmd += ["--show-only", "templates/notes-rendered.yaml"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    notes: str = yaml.safe_load(result.stdout)["notes"]
    return notes


def test_notes_tell_what_was_installed_and_how_to_watch_it(tmp_path: Path) -> None:
    notes = rendered_notes(tmp_path, "redis.url=redis://:hunter2@redis.prod:6379/0")
    assert "shoal-worker-emails: queue emails, pool gevent, concurrency 300, autoscaled 2..20" in (
        notes
    )
    assert (
        "shoal-worker-billing-charges: queue billing_charges, pool prefork, concurrency 4, 3"
        in (notes)
    )
    assert "kubectl -n shoal exec deploy/shoal-autoscaler -- shoal status" in notes
    assert "hunter2" not in notes
    assert "redis://***@redis.prod:6379/0" in notes


def test_notes_say_what_replaces_the_autoscaler_when_it_is_off(tmp_path: Path) -> None:
    fixed = [f"queues[{i}].autoscaling.enabled=false" for i in range(4)]
    notes = rendered_notes(tmp_path, "autoscaler.enabled=false", *fixed)
    assert "Autoscaler: off (autoscaler.enabled=false): every queue runs its fixed replicas" in (
        notes
    )
    assert "ShoalQueueWaitHigh" in notes
    assert "deploy/shoal-autoscaler" not in notes
    assert "Metrics: Services shoal-worker, -beat expose /metrics;" in notes
