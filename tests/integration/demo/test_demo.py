"""``shoal demo`` end to end without a terminal: work gets done, replicas move, nothing survives."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from scheduler.demo.children import environ_matches, pid_alive
from tests.support.tools import ROOT, require_tool


@pytest.mark.timeout(300)
def test_the_demo_runs_scales_reports_and_leaves_no_process_behind(tmp_path: Path) -> None:
    require_tool("redis-server")
    out = tmp_path / "demo-out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shoal", "demo", "--duration-s", "40", "--out-dir", str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == 0, output[-3000:]

    # plain lines (no TTY), then the summary
    assert "queue=emails backlog=" in output
    assert "shoal demo summary" in output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "autoscaler, local actuator"
    by_queue = {q["queue"]: q for q in summary["queues"]}
    assert set(by_queue) == {"reports", "emails"}
    assert sum(q["completed"] for q in by_queue.values()) > 0
    assert max(q["peak_running"] for q in by_queue.values()) > 0
    assert max(q["peak_desired"] for q in by_queue.values()) > 0
    assert (out / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # every child the demo started is gone, and nothing runs against its private Redis
    processes = summary["processes"]
    assert set(processes["children"]) >= {"redis", "autoscaler", "load"}
    for name, pid in processes["children"].items():
        assert not pid_alive(pid), f"{name} (pid {pid}) is still running"
    for pid in processes["swept"]:
        assert not pid_alive(pid)
    url = yaml.safe_load((out / "autoscaler.yaml").read_text())["redis"]["url"]
    assert environ_matches(f"SHOAL_REDIS_URL={url}") == []
    worker_logs = list((out / "logs" / "workers").glob("local-*.log"))
    assert worker_logs, "the local actuator started no worker"


@pytest.mark.timeout(300)
def test_ctrl_c_stops_the_demo_with_a_summary_and_no_process_left(tmp_path: Path) -> None:
    require_tool("redis-server")
    out = tmp_path / "demo-out"
    log = tmp_path / "demo.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    with log.open("w") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shoal", "demo", "--out-dir", str(out)],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while "replicas=1/1" not in log.read_text() and "replicas=2/" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(120) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    text = log.read_text()
    assert "shoal demo summary" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["duration_s"] < 110  # stopped by Ctrl-C, not by the end of the trace
    for pid in summary["processes"]["children"].values():
        assert not pid_alive(pid)
    url = yaml.safe_load((out / "autoscaler.yaml").read_text())["redis"]["url"]
    assert environ_matches(f"SHOAL_REDIS_URL={url}") == []
