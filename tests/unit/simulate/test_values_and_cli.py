"""Values files as the chart reads them, and ``shoal simulate`` end to end (table, JSON, PNG)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scheduler.autoscaler.config import ConfigError
from scheduler.simulate.cli import main
from scheduler.simulate.values import load_values, parse_values
from tests.support.tools import ROOT

EXAMPLE_VALUES = ROOT / "scheduler" / "simulate" / "examples" / "values.yaml"
CHART_VALUES = ROOT / "charts" / "shoal" / "values.yaml"


def test_chart_defaults_fill_each_queue_like_the_chart_does() -> None:
    values = parse_values(
        {
            "autoscaler": {"pollIntervalSeconds": 5},
            "pools": {
                "prefork": {"concurrency": None, "resources": {"requests": {"cpu": "1500m"}}},
                "gevent": {"concurrency": 150, "prefetchMultiplier": 3},
            },
            "queueDefaults": {"autoscaling": {"minReplicas": 0, "targetBacklogPerReplica": 10}},
            "queues": [
                {"name": "reports", "pool": "prefork"},
                {"name": "emails", "pool": "gevent", "autoscaling": {"maxReplicas": 7}},
            ],
        }
    )
    assert values.poll_interval_s == 5.0
    reports, emails = values.specs(["reports", "emails"])
    assert (reports.concurrency, reports.reserved_per_replica, reports.min_replicas) == (2, 0, 0)
    assert (emails.concurrency, emails.reserved_per_replica, emails.max_replicas) == (150, 1, 7)
    assert values.prefetch == {"reports": 1, "emails": 3}


OVERRIDES = """
queueDefaults:
  autoscaling:
    targetBacklogPerReplica: 20
    scaleDown: {stabilizationWindowSeconds: 600, selectPolicy: Min}
queues:
  - name: reports
    pool: prefork
    resources: {requests: {cpu: "3"}}
    autoscaling:
      scaleDown: {selectPolicy: Max}
  - name: batch
    pool: gevent
    replicas: 3
    autoscaling: {enabled: false}
"""


def overrides(tmp_path: Path) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(OVERRIDES)
    return path


def test_a_queue_overriding_one_nested_field_keeps_the_defaults_siblings(tmp_path: Path) -> None:
    reports = load_values(overrides(tmp_path)).policies[0]
    assert reports.scale_down.select_policy == "Max"
    assert reports.scale_down.stabilization_window_s == 600  # from queueDefaults, as the chart


def test_a_prefork_queue_runs_one_process_per_cpu_of_its_own_request(tmp_path: Path) -> None:
    (reports,) = load_values(overrides(tmp_path)).specs(["reports"])
    assert reports.concurrency == 3


def test_a_queue_without_autoscaling_runs_its_fixed_replicas(tmp_path: Path) -> None:
    (batch,) = load_values(overrides(tmp_path)).specs(["batch"])
    assert (batch.fixed_replicas, batch.start_replicas) == (3, 3)


def test_every_policy_keeps_a_fixed_queue_at_its_replicas(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = write_trace(tmp_path, "0,batch,900,1.0", "300,batch,900,1.0")
    argv = ["--values", str(overrides(tmp_path)), "--trace", str(trace), "--json"]
    assert main([*argv, "--policy", "shoal", "--policy", "keda"]) == 0
    for run in json.loads(capsys.readouterr().out)["runs"]:
        (batch,) = run["queues"]
        assert (batch["peak_replicas"], batch["scale_events"]) == (3, 0), run["policy"]
        assert batch["completed"] == 1800


def test_the_chart_defaults_fill_what_a_values_file_leaves_out(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text("queues: [{name: io, pool: gevent, autoscaling: {targetLatencySeconds: 9}}]\n")
    values = load_values(path)
    (io,) = values.specs(["io"])
    assert (io.concurrency, values.prefetch["io"], values.poll_interval_s) == (200, 4, 2.0)
    assert values.policies[0].deployment == "shoal-worker-io"


def test_a_key_twice_in_the_values_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text("queues: []\nqueues: []\n")
    with pytest.raises(ConfigError, match=r"values\.yaml: line 2: key 'queues' appears twice"):
        load_values(path)


def test_the_autoscalers_config_file_is_read_by_the_autoscalers_parser(tmp_path: Path) -> None:
    path = tmp_path / "autoscaler.yaml"
    path.write_text(
        "pollIntervalSeconds: 1\n"
        "queues: [{name: q, pool: gevent, concurrency: 7, deployment: my-q,"
        " autoscaling: {targetBacklogPerReplica: 3}}]\n"
    )
    values = load_values(path)
    assert values.poll_interval_s == 1.0
    assert (values.policies[0].deployment, values.policies[0].concurrency) == ("my-q", 7)
    assert values.prefetch == {"q": 4}  # the chart's gevent default


def test_the_charts_own_values_file_loads() -> None:
    if not CHART_VALUES.exists():
        pytest.fail(f"{CHART_VALUES} is missing")
    values = load_values(CHART_VALUES)
    assert values.poll_interval_s == 2.0
    assert [p.name for p in values.policies] == ["celery"]


def test_a_bad_autoscaling_field_is_named() -> None:
    with pytest.raises(ConfigError, match=r"queues\[0\] \(q\)\.autoscaling\.minReplicas"):
        parse_values(
            {"queues": [{"name": "q", "pool": "gevent", "autoscaling": {"minReplicas": -1}}]}
        )


def write_trace(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text("\n".join(["time_s,queue,tasks,mean_service_s", *lines]) + "\n")
    return path


def test_json_output_compares_policies_on_one_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = write_trace(tmp_path, "5,thumbnails,600,0.5", "200,reports,30,3.0")
    argv = ["--values", str(EXAMPLE_VALUES), "--trace", str(trace), "--json"]
    assert main([*argv, "--policy", "shoal", "--policy", "keda", "--policy", "static:2"]) == 0
    out = json.loads(capsys.readouterr().out)
    runs = {run["policy"]: run for run in out["runs"]}
    assert set(runs) == {"shoal", "keda", "static:2"}
    for run in runs.values():
        assert [q["queue"] for q in run["queues"]] == ["thumbnails", "reports"]
        assert run["total"]["tasks"] == 630
        assert run["total"]["completed"] == 630
    shoal = runs["shoal"]["queues"][0]
    keda = runs["keda"]["queues"][0]
    # KEDA sees the burst only at its next 30 s poll; shoal within one 2 s poll
    assert shoal["p95_wait_s"] < keda["p95_wait_s"]
    assert runs["static:2"]["queues"][0]["scale_events"] == 0
    assert set(shoal) >= {
        "p50_wait_s",
        "p95_wait_s",
        "max_wait_s",
        "time_above_target_s",
        "replica_seconds",
        "scale_events",
        "peak_replicas",
    }


def test_table_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = write_trace(tmp_path, "0,emails,300,0.3", "1,emails,300,0.3")
    png = tmp_path / "out" / "run.png"
    code = main(["--values", str(EXAMPLE_VALUES), "--trace", str(trace), "--plot", str(png)])
    assert code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("policy shoal, ")
    assert lines[1].split() == [
        "queue", "tasks", "p50", "wait", "p95", "wait", "max", "wait", "above", "target",
        "replica-s", "scale", "events", "peak",
    ]  # fmt: skip
    assert lines[3].split()[:2] == ["emails", "600"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("extra", "trace_lines", "message"),
    [
        ([], ["1,nosuch,1,1"], "queue 'nosuch' is not in"),
        (["--policy", "static:x"], ["1,emails,1,1"], "expected static:N"),
        (["--policy", "hpa"], ["1,emails,1,1"], "expected shoal, keda or static:N"),
        ([], ["1,emails,one,1"], "line 2: tasks: expected an integer"),
        (["--priority-fraction", "2"], ["1,emails,1,1"], "--priority-fraction: must be within"),
        (["--jobs", "0"], ["1,emails,1,1"], "--jobs: must be >= 1"),
        (["--seed", "-1"], ["1,emails,1,1"], "--seed: must be >= 0"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    trace_lines: list[str],
    message: str,
) -> None:
    trace = write_trace(tmp_path, *trace_lines)
    assert main(["--values", str(EXAMPLE_VALUES), "--trace", str(trace), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("shoal simulate: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
