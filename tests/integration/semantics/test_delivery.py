"""At-least-once delivery: a killed worker loses no task, a drained worker loses none either."""

from __future__ import annotations

import base64
import json
import os
import signal
import time

import pytest
import redis
from celery import Celery

from contract import census
from contract.priority import priority_lists
from tests.support.procs import ProcessTracker, wait_for

STARTS = "shoal:test:starts"
DONE = "shoal:test:done"


def _decoded(client: redis.Redis, key: str) -> list[str]:
    return [v.decode() for v in client.lrange(key, 0, -1)]


@pytest.mark.timeout(240)
def test_a_task_of_a_sigkilled_worker_runs_again_on_a_new_worker(
    procs: ProcessTracker,
    semantics_env: dict[str, str],
    stock_client: Celery,
    redis_client: redis.Redis,
) -> None:
    env = {**semantics_env, "SHOAL_LIVENESS_TIMEOUT_S": "6"}
    first = procs.worker("kill", env=env, name="first")
    stock_client.send_task("tests.start_then_sleep", args=["t1", 3.0], queue="kill")
    wait_for(lambda: redis_client.llen(STARTS) == 1, timeout_s=90, message="the task to start")
    first.kill_group(signal.SIGKILL)
    killed_at = time.monotonic()
    assert first.wait(10) is not None
    holding = census.read(redis_client, ["kill"])["kill"]
    assert holding.held_live + holding.held_dead == 1  # Redis still holds the message
    assert _decoded(redis_client, DONE) == []

    procs.worker("kill", env=env, name="second")
    wait_for(lambda: redis_client.llen(STARTS) == 2, timeout_s=90, message="the task again")
    assert time.monotonic() - killed_at < 6 + 15  # the liveness timeout, not an hour
    wait_for(lambda: redis_client.llen(DONE) >= 1, timeout_s=90, message="the task to finish")
    assert _decoded(redis_client, STARTS) == ["t1", "t1"]
    assert _decoded(redis_client, DONE) == ["t1"]
    wait_for(
        lambda: census.read(redis_client, ["kill"])["kill"][:2] == (0, 0),
        timeout_s=30,
        message="the ack",
    )
    assert redis_client.hlen("unacked") == 0


def _queued_tags(client: redis.Redis, queue: str) -> list[str]:
    tags = []
    for key in priority_lists(queue):
        for raw in client.lrange(key, 0, -1):
            tags.append(json.loads(base64.b64decode(json.loads(raw)["body"]))[0][0])
    return tags


@pytest.mark.timeout(240)
def test_sigterm_during_a_burst_finishes_running_tasks_and_loses_none(
    procs: ProcessTracker,
    semantics_env: dict[str, str],
    stock_client: Celery,
    redis_client: redis.Redis,
) -> None:
    total = 500
    with stock_client.producer_or_acquire() as producer:
        for i in range(total):
            stock_client.send_task(
                "tests.start_then_sleep", args=[str(i), 0.5], queue="burst", producer=producer
            )
    worker = procs.worker("burst", env=semantics_env, concurrency=2)
    wait_for(lambda: redis_client.llen(DONE) >= 6, timeout_s=90, message="a few tasks done")
    worker.signal(signal.SIGTERM)
    assert worker.wait(60) is not None, "the worker did not exit after SIGTERM"

    starts, done = _decoded(redis_client, STARTS), _decoded(redis_client, DONE)
    assert sorted(starts) == sorted(done), "a task that started did not finish"
    assert len(done) == len(set(done))
    holding = census.read(redis_client, ["burst"])["burst"]
    assert (holding.held_live, holding.held_dead, redis_client.hlen("unacked")) == (0, 0, 0)
    left = _queued_tags(redis_client, "burst")
    assert len(done) + len(left) == total
    assert set(done) | set(left) == {str(i) for i in range(total)}
    assert len(done) < total  # the burst really was cut short


@pytest.mark.timeout(180)
def test_a_killed_pool_process_hands_its_task_back_instead_of_dead_lettering_it(
    procs: ProcessTracker,
    semantics_env: dict[str, str],
    stock_client: Celery,
    redis_client: redis.Redis,
) -> None:
    procs.worker("child", env=semantics_env)
    stock_client.send_task("tests.pid_then_sleep", args=["t1", 2.0], queue="child")
    wait_for(lambda: redis_client.llen("shoal:test:pids") == 1, timeout_s=90, message="a start")
    first_pid = int(redis_client.lindex("shoal:test:pids", 0).decode().split("|")[1])  # type: ignore[union-attr]
    os.kill(first_pid, signal.SIGKILL)
    wait_for(lambda: redis_client.llen(DONE) == 1, timeout_s=90, message="the task to run again")
    pids = [int(v.decode().split("|")[1]) for v in redis_client.lrange("shoal:test:pids", 0, -1)]
    assert len(pids) == 2 and pids[1] != first_pid
    assert redis_client.llen("shoal:dlq:child") == 0
