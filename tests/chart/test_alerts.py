"""The chart's alert rules pass `promtool check rules` and fire/do not fire as unit-tested."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.chart.helm import VALUES, render
from tests.support.tools import require_tool

ALERTS_TEST = VALUES.parent / "alerts_test.yaml"


def write_rules(directory: Path, *, sets: tuple[str, ...] = ()) -> Path:
    """The PrometheusRule's groups from the chart (monitoring.yaml) as a plain rules file."""
    (rule,) = render("monitoring.yaml", sets=sets).of_kind("PrometheusRule")
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    shutil.copy(ALERTS_TEST, directory / "alerts_test.yaml")
    return path


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_promtool_check_rules_accepts_the_rendered_rules(tmp_path: Path) -> None:
    write_rules(tmp_path)
    result = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # 2 latency (one per queue) + 1 at-max (emails only) + DLQ + failure ratio
    # + autoscaler down + beat down + beat without leader.
    assert "SUCCESS: 8 rules found" in result.stdout


def test_promtool_unit_tests_fire_and_do_not_fire_each_alert(tmp_path: Path) -> None:
    write_rules(tmp_path)
    tested = yaml.safe_load(ALERTS_TEST.read_text())
    names = {c["alertname"] for t in tested["tests"] for c in t["alert_rule_test"]}
    assert names == {
        "ShoalQueueLatencyHigh",
        "ShoalQueueAtMaxReplicas",
        "ShoalDeadLetterGrowing",
        "ShoalTaskFailureRatioHigh",
        "ShoalAutoscalerDown",
        "ShoalBeatDown",
        "ShoalBeatNoLeader",
    }
    cases = [c for t in tested["tests"] for c in t["alert_rule_test"]]
    for name in names:
        assert any(c["alertname"] == name and c["exp_alerts"] for c in cases), f"{name} fires"
        assert any(c["alertname"] == name and not c["exp_alerts"] for c in cases), name
    result = promtool("test", "rules", "alerts_test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_unit_tests_notice_a_different_latency_target(tmp_path: Path) -> None:
    # A rule rendered with another target must break the expectations: the tests can fail.
    write_rules(tmp_path, sets=("queues[0].autoscaling.targetLatencySeconds=600",))
    result = promtool("test", "rules", "alerts_test.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "ShoalQueueLatencyHigh" in result.stdout + result.stderr
