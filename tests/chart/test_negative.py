"""Each bad values file fails `helm template` with a message that names the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart.helm import VALUES, render, run_template

BAD = sorted((VALUES / "bad").glob("*.yaml"))


def expected_message(path_text: str) -> str:
    first = path_text.splitlines()[0]
    assert first.startswith("# expect: "), "a bad values file starts with '# expect: MESSAGE'"
    return first.removeprefix("# expect: ").strip()


def test_there_are_bad_values_files_for_schema_and_template_checks() -> None:
    names = {p.name for p in BAD}
    assert {"typo-queue-field.yaml", "bad-pool.yaml", "min-above-max.yaml"} <= names
    assert len(BAD) >= 10


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_values_fail_naming_the_field(path: Path) -> None:
    message = expected_message(path.read_text())
    result = run_template([str(path)])
    assert result.returncode != 0, f"{path.name} rendered but should have failed"
    assert result.stdout == ""
    assert message in result.stderr, result.stderr


def test_a_typo_set_on_the_command_line_fails_too() -> None:
    result = run_template(["minimal.yaml"], sets=["autoscaler.pollIntervalSecond=5"])
    assert result.returncode != 0
    assert "additional properties 'pollIntervalSecond' not allowed" in result.stderr
    assert "at '/autoscaler'" in result.stderr


def test_the_same_files_without_the_mistake_render() -> None:
    # Guards against a negative test passing because the chart fails on everything.
    assert render("minimal.yaml").objects
    fixed = run_template(["minimal.yaml"], sets=["queues[0].autoscaling.minReplicas=3"])
    assert fixed.returncode == 0, fixed.stderr
    broken = run_template(["minimal.yaml"], sets=["queues[0].autoscaling.minReplicas=11"])
    assert "autoscaling.minReplicas (11) must not exceed autoscaling.maxReplicas (10)" in (
        broken.stderr
    )
