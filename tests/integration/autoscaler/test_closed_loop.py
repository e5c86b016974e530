"""Closed loop: the controller, the local actuator and real workers against a real burst."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis
from celery import Celery

from contract.inflight import read_inflight
from scheduler.autoscaler.config import parse_config
from scheduler.autoscaler.controller import Controller, Outcome
from scheduler.autoscaler.local_actuator import LocalActuator
from scheduler.autoscaler.redis_source import RedisSource
from tests.support.procs import wait_for

pytestmark = pytest.mark.integration

POLL_S = 1.0
TASKS = 3000


@pytest.mark.timeout(500)
def test_a_burst_on_an_idle_queue_scales_up_drains_and_returns_to_zero(
    worker_env: dict[str, str],
    stock_client: Celery,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    config = parse_config(
        {
            "pollIntervalSeconds": POLL_S,
            "queues": [
                {
                    "name": "burst",
                    "pool": "prefork",
                    "concurrency": 4,
                    "autoscaling": {
                        "minReplicas": 0,
                        "maxReplicas": 3,
                        "targetBacklogPerReplica": 500,
                        "cooldownSeconds": 3,
                        # Scale-in waits until the burst has drained: a Celery worker told to
                        # stop while messages still flow can strand the one its last BRPOP
                        # fetched in kombu's `unacked` hash until the visibility timeout
                        # (celery/celery#4354, #7950), which this test would report as lost.
                        "scaleDown": {"stabilizationWindowSeconds": 45},
                    },
                }
            ],
        }
    )
    env = {**worker_env, "SHOAL_DRAIN_TIMEOUT_S": "5", "SHOAL_HEARTBEAT_INTERVAL_S": "0.5"}
    actuator = LocalActuator(env=env, log_dir=tmp_path / "workers", stop_grace_s=30)
    history: list[tuple[float, Outcome]] = []

    class Recording(Controller):
        def step(self) -> list[Outcome]:
            outcomes = super().step()
            history.extend((time.monotonic(), o) for o in outcomes)
            return outcomes

    controller = Recording(
        config=config,
        source=RedisSource(redis_client),
        actuator=actuator,
        status_client=redis_client,
        in_flight_by_worker=lambda q: read_inflight(redis_client, [q], int(time.time() * 1000))[q],
    )
    stop = threading.Event()
    loop = threading.Thread(target=controller.run, args=(stop,), daemon=True)
    loop.start()
    try:
        wait_for(lambda: history, timeout_s=10, message="a first pass")
        assert history[-1][1].decision.desired == 0  # idle queue, minReplicas 0
        first_publish = time.monotonic()
        with stock_client.producer_or_acquire() as producer:
            for i in range(TASKS):
                stock_client.send_task(
                    "shoal.record", args=[f"t{i}"], queue="burst", producer=producer
                )
        landed = time.monotonic()
        wait_for(
            lambda: any(o.decision.desired > 0 for _, o in history),
            timeout_s=10,
            message="a scale-up decision",
        )
        scaled_at = next(t for t, o in history if o.decision.desired > 0)
        # The burst has landed once the last task is published; the first scale-up comes at the
        # latest two poll intervals after that (here usually while the burst is still landing).
        assert scaled_at <= landed + 2 * POLL_S, (
            f"first scale-up {scaled_at - landed:.1f}s after the burst landed "
            f"(publishing took {landed - first_publish:.1f}s)"
        )
        wait_for(
            lambda: redis_client.llen("shoal:test:record") == TASKS,
            timeout_s=300,
            interval_s=0.5,
            message=f"{TASKS} tasks ran",
        )
        wait_for(
            lambda: history[-1][1].observation.current_replicas == 0 and not actuator.procs,
            timeout_s=150,
            interval_s=0.5,
            message="back to zero replicas, every worker process gone",
        )
    finally:
        stop.set()
        loop.join(30)
        actuator.close()
    tags = {e.decode().split("|")[0] for e in redis_client.lrange("shoal:test:record", 0, -1)}
    assert len(tags) == TASKS  # every task ran, each once
    assert redis_client.hlen("unacked") == 0  # nothing stranded by a stopping worker
    peak = max(o.decision.desired for _, o in history)
    # Up to 3000 / 500 = 6 wanted, capped at maxReplicas 3; how high the backlog climbs while
    # the burst lands depends on how fast the workers keep up, so at least 2.
    assert 2 <= peak <= 3, peak
    reasons = [str(o.decision.reason) for _, o in history]
    assert "scale-to-zero" in reasons
    status = redis_client.hget("shoal:autoscaler:status", "burst")
    assert status is not None and b'"desired_replicas": 0' in status
