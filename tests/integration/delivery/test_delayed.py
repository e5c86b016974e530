"""Tasks due later wait in Redis, not in a worker: an ETA (countdown, retry backoff) beyond the
park threshold (10 s) goes into the queue's delayed set, comes back shortly before it is due,
and starts at its ETA; whichever shoal process is alive moves it back (here, with no worker
running, the function the autoscaler calls)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from celery import Celery

from contract import census, delayed
from tests.integration.delivery.records import counts, done_tags, events
from tests.support.procs import ProcessTracker, wait_for

QUEUE = "later"
LATE_LIMIT_S = 3.0


def _holding(client: redis.Redis) -> census.Holding:
    return census.read(client, [QUEUE])[QUEUE]


@pytest.mark.timeout(180)
def test_a_task_due_later_waits_in_redis_and_starts_at_its_eta(
    procs: ProcessTracker,
    aof_env: dict[str, str],
    aof_client: redis.Redis,
    aof_celery: Celery,
    record_file: Path,
) -> None:
    procs.worker(QUEUE, env=aof_env, name="w")
    wait_for(lambda: aof_client.zcard("shoal:workers") == 1, timeout_s=90, message="a worker")
    eta = time.time() + 16
    aof_celery.send_task("delivery.work", args=["later", 0], queue=QUEUE, countdown=16)
    wait_for(lambda: _holding(aof_client).delayed == 1, timeout_s=10, message="parked")
    holding = _holding(aof_client)
    assert (holding.held_live, aof_client.llen(QUEUE)) == (0, 0)  # not in any worker
    assert holding.next_due_ms is not None and abs(holding.next_due_ms / 1000 - eta) < 1

    wait_for(lambda: "later" in done_tags(record_file), timeout_s=60, message="the task")
    started = next(e.at for e in events(record_file) if e.kind == "start")
    assert eta - 0.1 <= started <= eta + LATE_LIMIT_S
    assert _holding(aof_client).delayed == 0


@pytest.mark.timeout(180)
def test_a_retry_with_backoff_waits_in_redis(
    procs: ProcessTracker,
    aof_env: dict[str, str],
    aof_client: redis.Redis,
    aof_celery: Celery,
    record_file: Path,
) -> None:
    procs.worker(QUEUE, env=aof_env, name="w")
    aof_celery.send_task("delivery.retry_later", args=["r", 14], queue=QUEUE)
    wait_for(lambda: counts(record_file, "attempt0")["r"] == 1, timeout_s=90, message="try 1")
    wait_for(lambda: _holding(aof_client).delayed == 1, timeout_s=10, message="the retry parked")
    assert _holding(aof_client).held_live == 0
    wait_for(lambda: "r" in done_tags(record_file), timeout_s=60, message="the retry done")
    first = next(e.at for e in events(record_file) if e.kind == "attempt0")
    second = next(e.at for e in events(record_file) if e.kind == "attempt1")
    assert 14 - 0.1 <= second - first <= 14 + LATE_LIMIT_S


@pytest.mark.timeout(180)
def test_an_eta_within_the_threshold_is_held_by_a_live_worker_and_runs_once(
    procs: ProcessTracker,
    aof_env: dict[str, str],
    aof_client: redis.Redis,
    aof_celery: Celery,
    record_file: Path,
) -> None:
    env = {**aof_env, "SHOAL_LIVENESS_TIMEOUT_S": "6"}
    procs.worker(QUEUE, env=env, name="holder")
    wait_for(lambda: aof_client.zcard("shoal:workers") == 1, timeout_s=90, message="a worker")
    aof_celery.send_task("delivery.work", args=["soon", 0], queue=QUEUE, countdown=9)
    wait_for(lambda: _holding(aof_client).held_live == 1, timeout_s=10, message="held")
    procs.worker(QUEUE, env=env, name="idle")  # would take it if the holder looked dead
    wait_for(lambda: "soon" in done_tags(record_file), timeout_s=60, message="the task")
    time.sleep(3)
    assert counts(record_file, "start")["soon"] == 1


@pytest.mark.timeout(180)
def test_with_no_worker_running_promote_moves_due_tasks_back_once(
    procs: ProcessTracker,
    aof_env: dict[str, str],
    aof_client: redis.Redis,
    aof_celery: Celery,
    record_file: Path,
) -> None:
    worker = procs.worker(QUEUE, env=aof_env, name="w")
    aof_celery.send_task("delivery.work", args=["z", 0], queue=QUEUE, countdown=12)
    wait_for(lambda: _holding(aof_client).delayed == 1, timeout_s=90, message="parked")
    worker.stop()  # scale to zero: the task stays in the delayed set
    assert _holding(aof_client).delayed == 1
    assert delayed.promote(aof_client, [QUEUE]) == 0  # not due yet
    wait_for(
        lambda: delayed.promote(aof_client, [QUEUE]) == 1,
        timeout_s=30,
        message="promoted when due (the autoscaler's call)",
    )
    assert delayed.promote(aof_client, [QUEUE]) == 0
    assert aof_client.llen(QUEUE) == 1
    procs.worker(QUEUE, env=aof_env, name="woken")
    wait_for(lambda: "z" in done_tags(record_file), timeout_s=90, message="the task")
    assert counts(record_file, "start")["z"] == 1


@pytest.mark.timeout(180)
def test_expires_keeps_its_meaning_for_a_parked_task(
    procs: ProcessTracker,
    aof_env: dict[str, str],
    aof_client: redis.Redis,
    aof_celery: Celery,
    record_file: Path,
) -> None:
    """Due in 14 s but expired after 6 s: parked, then revoked when it comes back, as Celery
    revokes an expired ETA task it held; it never runs."""
    procs.worker(QUEUE, env=aof_env, name="w")
    result = aof_celery.send_task(
        "delivery.work", args=["x", 0], queue=QUEUE, countdown=14, expires=6
    )
    wait_for(lambda: _holding(aof_client).delayed == 1, timeout_s=90, message="parked")
    wait_for(lambda: result.state == "REVOKED", timeout_s=60, message="revoked")
    assert counts(record_file, "start") == {}
    holding = _holding(aof_client)
    assert (holding.held_live, holding.delayed, aof_client.llen(QUEUE)) == (0, 0, 0)
