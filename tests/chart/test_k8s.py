"""k8s/ holds the chart's default render; it must not drift, and its overlay must build."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import yaml

from tests.chart import render_k8s
from tests.chart.helm import KUBE_VERSION, NAMESPACE
from tests.support.tools import ROOT, require_tool

OVERLAY = ROOT / "k8s" / "overlays" / "example"


def expected_files() -> dict[str, str]:
    return render_k8s.files(render_k8s.render_default(require_tool("helm")))


def test_k8s_base_matches_the_chart_rendered_with_default_values() -> None:
    problems = render_k8s.differences(expected_files())
    assert problems == [], (
        "k8s/base drifted from charts/shoal; run `python -m tests.chart.render_k8s`:\n"
        + "\n".join(problems)
    )


def test_the_drift_check_notices_a_change(tmp_path: Path) -> None:
    expected = expected_files()
    for name, text in expected.items():
        (tmp_path / name).write_text(text)
    assert render_k8s.differences(expected, tmp_path) == []
    edited = tmp_path / "deployment-shoal-beat.yaml"
    edited.write_text(edited.read_text().replace("replicas: 2", "replicas: 5"))
    (tmp_path / "configmap-stale.yaml").write_text("kind: ConfigMap\n")
    (tmp_path / "role-shoal-autoscaler.yaml").unlink()
    assert render_k8s.differences(expected, tmp_path) == [
        "missing: role-shoal-autoscaler.yaml",
        "not rendered by the chart: configmap-stale.yaml",
        "differs: deployment-shoal-beat.yaml",
    ]


def test_the_check_command_exits_zero_on_the_committed_tree() -> None:
    assert render_k8s.main(["--check", "--helm", require_tool("helm")]) == 0


def kustomize_build() -> list[str]:
    """`kubectl kustomize`, or the kustomize scripts/go-tools.sh builds where kubectl is missing."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    return [require_tool("kustomize"), "build"]


def test_the_example_overlay_builds_and_validates() -> None:
    result = subprocess.run(
        [*kustomize_build(), str(OVERLAY)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    objects = [d for d in yaml.safe_load_all(result.stdout) if d]
    base_count = len(list((ROOT / "k8s" / "base").glob("*.yaml"))) - 1  # minus kustomization
    assert len(objects) == base_count
    for obj in objects:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        assert obj["metadata"]["namespace"] == NAMESPACE
        assert obj["metadata"]["labels"]["team"] == "platform"
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    assert deployments["shoal-beat"]["spec"]["replicas"] == 3
    worker = deployments["shoal-worker-celery"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["image"] == "registry.example.com/platform/shoal:0.1.0"
    assert worker["resources"]["limits"]["memory"] == "2Gi"
    assert worker["resources"]["requests"]["cpu"] == "1"  # untouched by the patch
