"""Fidelity: the simulator against the real thing, on one burst, with the same settings.

Real: a private Redis, ``shoal autoscaler --actuator local`` (real ``shoal worker`` processes),
a burst published by ``shoal load``. Simulated: the same config file, the same burst, the
deterministic service model, with three machine facts measured just before on this machine:
the pod start delay (``shoal worker`` processes from spawn to their first task), the effective
service time (the task's 1 s plus the worker's own overhead per task) and the stop delay (an
idle worker from SIGTERM to exit). What is
compared is the control loop: drain time (burst to last task done) and replica-seconds (worker
processes alive, burst until back to zero) must agree within 20 %.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
import yaml
from celery import Celery

from scheduler.demo.children import environ_matches, pid_alive
from scheduler.simulate.binned import load
from scheduler.simulate.engine import SimSettings, simulate
from scheduler.simulate.report import build_report
from scheduler.simulate.service import ServiceKind
from scheduler.simulate.shoal_controller import ShoalController
from scheduler.simulate.values import load_values
from tests.support.procs import ProcessTracker, wait_for
from tests.support.redis_server import RedisServer
from tests.support.tools import ROOT

QUEUE = "burst"
TASKS = 1200
SERVICE_S = 1.0
CONCURRENCY = 10
MAX_REPLICAS = 4
TOLERANCE = 0.20


def config(url: str) -> dict[str, object]:
    return {
        "pollIntervalSeconds": 1,
        "redis": {"url": url},
        "leaderElection": {"enabled": False},
        "queues": [
            {
                "name": QUEUE,
                "pool": "gevent",
                "concurrency": CONCURRENCY,
                "deployment": f"shoal-worker-{QUEUE}",
                "autoscaling": {
                    "minReplicas": 0,
                    "maxReplicas": MAX_REPLICAS,
                    "targetBacklogPerReplica": 50,
                    "cooldownSeconds": 10,
                    "scaleDown": {"stabilizationWindowSeconds": 5},
                },
            }
        ],
    }


def children_of(pid: int) -> list[int]:
    """Live direct children of ``pid`` (the local actuator's worker processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(stat[1]) == pid and stat[0] != b"Z":
            found.append(int(entry.name))
    return found


class Sampler(threading.Thread):
    """Counts the autoscaler's worker processes every 0.2 s."""

    def __init__(self, parent_pid: int) -> None:
        super().__init__(daemon=True)
        self.parent_pid = parent_pid
        self.samples: list[tuple[float, int]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.samples.append((time.time(), len(children_of(self.parent_pid))))
            time.sleep(0.2)

    def replica_seconds(self, start: float) -> float:
        total = 0.0
        for (t0, n), (t1, _) in zip(self.samples, self.samples[1:], strict=False):
            if t1 > start:
                total += n * (t1 - max(t0, start))
        return total


def calibrate(procs: ProcessTracker, env: dict[str, str], url: str) -> tuple[float, float, float]:
    """(start delay, effective service time, stop delay) of ``shoal worker`` here, right now.

    Start delay: the median time from spawning ``MAX_REPLICAS`` workers at once to each running
    its first task. Effective service time: with those workers up, how long a slot is taken per
    task (the task's own 1 s plus the worker's overhead per task) over a backlog of
    ``MAX_REPLICAS x CONCURRENCY x 10`` tasks. Stop delay: the median time an idle worker
    takes from SIGTERM to exit.
    """
    client = redis.Redis.from_url(url)
    app = Celery("calibrate", broker=url, backend=url, set_as_current=False)
    for n in range(MAX_REPLICAS):
        app.send_task("shoal.record", args=[f"w{n}"], queue="calibrate")
    spawned = time.monotonic()
    workers = [
        procs.shoal(
            "worker",
            "--queue",
            "calibrate",
            "--pool",
            "gevent",
            "--concurrency",
            str(CONCURRENCY),
            env={**env, "SHOAL_WORKER_ID": f"calibrate-{n}"},
            name=f"calibrate-{n}",
        )
        for n in range(MAX_REPLICAS)
    ]
    times: list[float] = []
    deadline = spawned + 90
    while len(times) < MAX_REPLICAS and time.monotonic() < deadline:
        seen = client.llen("shoal:test:record")
        times += [time.monotonic() - spawned] * (seen - len(times))
        time.sleep(0.05)
    assert len(times) == MAX_REPLICAS, "calibration workers did not run their tasks"
    client.delete(*client.keys("celery-task-meta-*"))
    tasks = MAX_REPLICAS * CONCURRENCY * 10
    published_at = time.time()
    for _ in range(tasks):
        app.send_task("shoal.io_wait", args=[SERVICE_S], queue="calibrate")
    wait_for(
        lambda: len(client.keys("celery-task-meta-*")) >= tasks,
        timeout_s=120,
        interval_s=0.2,
        message="the calibration tasks",
    )
    service_s = (last_done_at(client) - published_at) * MAX_REPLICAS * CONCURRENCY / tasks
    time.sleep(3)  # every worker idle again
    stopped = time.monotonic()
    for worker in workers:
        worker.signal(signal.SIGTERM)
    exits = []
    for worker in workers:
        if worker.wait(15) is None:
            worker.kill_group(signal.SIGKILL)
        exits.append(time.monotonic() - stopped)
    app.close()
    client.flushdb()
    return statistics.median(times), service_s, statistics.median(exits)


def last_done_at(client: redis.Redis) -> float:
    """Wall time of the last task completion, from the result backend's ``date_done``."""
    latest = 0.0
    for key in client.scan_iter("celery-task-meta-*", count=1000):
        meta = yaml.safe_load(client.get(key) or b"{}")
        stamp = datetime.fromisoformat(str(meta["date_done"]))
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        latest = max(latest, stamp.timestamp())
    return latest


@pytest.mark.timeout(420)
def test_simulated_burst_matches_the_real_autoscaler_and_workers(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    procs: ProcessTracker,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    url = redis_server.url
    env = {**worker_env, "SHOAL_DRAIN_TIMEOUT_S": "10"}
    env["SHOAL_LOG_LEVEL"] = "WARNING"
    start_delay_s, service_s, stop_delay_s = calibrate(procs, env, url)

    config_file = tmp_path / "autoscaler.yaml"
    config_file.write_text(yaml.safe_dump(config(url)))
    autoscaler = procs.shoal(
        "autoscaler", "--config", str(config_file), "--actuator", "local",
        "--metrics-port", "0", "--health-port", "0", env=env, name="autoscaler",
    )  # fmt: skip
    sampler = Sampler(autoscaler.pid)
    try:
        wait_for(
            lambda: redis_client.hexists("shoal:autoscaler:status", QUEUE),
            timeout_s=60,
            message="the autoscaler's first pass",
        )
        sampler.start()
        burst_at = time.time()
        subprocess.run(
            [sys.executable, "-m", "shoal", "load", "--redis-url", url, "--queue", QUEUE,
             "--burst", str(TASKS), "--service-s", str(SERVICE_S)],
            cwd=ROOT, env=env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        wait_for(
            lambda: int(redis_client.hget(f"shoal:stats:{QUEUE}", "completed") or 0) >= TASKS,
            timeout_s=240,
            interval_s=0.5,
            message=f"{TASKS} tasks completed",
        )
        wait_for(
            lambda: sampler.samples and sampler.samples[-1][1] == 0,
            timeout_s=120,
            interval_s=0.5,
            message="the workers scaled back to zero",
        )
        time.sleep(0.5)
    finally:
        sampler.halt.set()
        autoscaler.signal(signal.SIGTERM)
        if autoscaler.wait(40) is None:
            autoscaler.kill_group(signal.SIGKILL)
        for pid in environ_matches(f"SHOAL_REDIS_URL={url}"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    real_drain_s = last_done_at(redis_client) - burst_at
    real_replica_s = sampler.replica_seconds(burst_at)
    peak = max(n for _, n in sampler.samples)
    assert not any(pid_alive(p) for p in children_of(autoscaler.pid))

    trace_file = tmp_path / "burst.csv"
    trace_file.write_text(f"time_s,queue,tasks,mean_service_s\n0,{QUEUE},{TASKS},{service_s}\n")
    settings = SimSettings(
        service=ServiceKind.DETERMINISTIC,
        start_delay_s=start_delay_s,
        stop_delay_s=stop_delay_s,
        tail_s=180,
    )
    values = load_values(config_file)
    trace = load(trace_file, step_s=settings.step_s, tail_s=settings.tail_s)
    specs = values.specs([QUEUE])
    controller = ShoalController(list(values.policies), poll_interval_s=values.poll_interval_s)
    sim = build_report(simulate(trace, specs, controller, settings)).queues[0]
    assert sim.completed == TASKS and sim.drain_time_s is not None

    figures = (
        f"start delay {start_delay_s:.1f}s, stop delay {stop_delay_s:.1f}s, "
        f"service {service_s:.2f}s; "
        f"drain real {real_drain_s:.1f}s sim {sim.drain_time_s:.1f}s; "
        f"replica-s real {real_replica_s:.0f} sim {sim.replica_seconds:.0f}; "
        f"peak real {peak} sim {sim.peak_replicas}"
    )
    print(f"\nfidelity: {figures}")
    assert peak == sim.peak_replicas == MAX_REPLICAS, figures
    assert abs(sim.drain_time_s - real_drain_s) <= TOLERANCE * real_drain_s, figures
    assert abs(sim.replica_seconds - real_replica_s) <= TOLERANCE * real_replica_s, figures
