"""The chart's alert rules pass `promtool check rules` and fire/do not fire as unit-tested."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
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
    # emails (autoscaled): latency + at-max; reports (fixed): queue wait; + DLQ + failure ratio
    # + autoscaler down + beat down + beat without leader.
    assert "SUCCESS: 8 rules found" in result.stdout


def test_promtool_unit_tests_fire_and_do_not_fire_each_alert(tmp_path: Path) -> None:
    write_rules(tmp_path)
    tested = yaml.safe_load(ALERTS_TEST.read_text())
    names = {c["alertname"] for t in tested["tests"] for c in t["alert_rule_test"]}
    assert names == {
        "ShoalQueueLatencyHigh",
        "ShoalQueueAtMaxReplicas",
        "ShoalQueueWaitHigh",
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


MATRIX = sorted(p.name for p in VALUES.glob("*.yaml"))
JOB = re.compile(r'job="([^"]+)"')
QUEUE = re.compile(r'queue="([^"]+)"')


def rules_of(values: str, *sets: str) -> list[dict[str, Any]]:
    rendered = render(values, sets=("monitoring.prometheusRule.enabled=true", *sets))
    (rule,) = rendered.of_kind("PrometheusRule")
    return [r for g in rule["spec"]["groups"] for r in g["rules"]]


@pytest.mark.parametrize("values", MATRIX)
def test_every_alert_selects_metrics_the_chart_deploys(values: str) -> None:
    rendered = render(values, sets=("monitoring.prometheusRule.enabled=true",))
    scraped = {
        s["metadata"]["name"]
        for s in rendered.of_kind("Service")
        if s["metadata"]["labels"].get("shoal.io/metrics") == "true"
    }
    observed: set[str] = set()  # the queues the autoscaler observes (its config file)
    for config_map in rendered.of_kind("ConfigMap"):
        if "autoscaler.yaml" in config_map["data"]:
            config = yaml.safe_load(config_map["data"]["autoscaler.yaml"])
            observed = {q["name"] for q in config["queues"]}
    for rule in rules_of(values):
        jobs = set(JOB.findall(rule["expr"]))
        assert jobs and jobs <= scraped, (rule["alert"], jobs, scraped)
        if "shoal-autoscaler" in jobs:
            assert set(QUEUE.findall(rule["expr"])) <= observed, rule["alert"]


def test_without_the_autoscaler_each_queue_keeps_a_latency_alert_from_its_workers(
    tmp_path: Path,
) -> None:
    rules = rules_of("beat-off.yaml")  # autoscaler and beat off, one fixed queue
    assert [r["alert"] for r in rules] == [
        "ShoalQueueWaitHigh",
        "ShoalDeadLetterGrowing",
        "ShoalTaskFailureRatioHigh",
    ]
    assert all("shoal_autoscaler" not in r["expr"] for r in rules)
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "shoal", "rules": rules}]}, sort_keys=False)
    )
    shutil.copy(VALUES.parent / "alerts_test_fixed.yaml", tmp_path / "test.yaml")
    checked = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "test.yaml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
