"""The instant between taking a message and recording it: stock kombu BRPOPs the message, then
writes its ``unacked`` entry in a second round trip, so a worker killed in between loses the
message. Shoal's worker moves it into its record in the same command that takes it.

The instant is made to last: the worker waits for work (its blocking command registered in
Redis), is stopped with SIGSTOP, a message is published (Redis hands it to the stopped worker's
connection at once), and the worker is killed with SIGKILL before it could read the reply."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import redis
from celery import Celery

from contract import census
from tests.integration.delivery.records import done_tags
from tests.support.procs import ProcessTracker, wait_for

QUEUE = "gap"


def _blocked(client: redis.Redis, command: str) -> bool:
    return any(c.get("cmd") == command and "b" in c.get("flags", "") for c in client.client_list())


def _stop_then_publish_then_kill(
    proc: object, client: redis.Redis, app: Celery, command: str
) -> None:
    wait_for(lambda: _blocked(client, command), timeout_s=90, message=f"a blocked {command}")
    proc.kill_group(signal.SIGSTOP)  # type: ignore[attr-defined]
    app.send_task("delivery.work", args=["x", 0], queue=QUEUE, ignore_result=True)
    wait_for(lambda: client.llen(QUEUE) == 0, timeout_s=10, message="Redis to hand it over")
    proc.kill_group(signal.SIGKILL)  # type: ignore[attr-defined]
    proc.wait(10)  # type: ignore[attr-defined]


def test_stock_kombu_loses_a_message_killed_between_brpop_and_its_unacked_entry(
    procs: ProcessTracker, aof_env: dict[str, str], aof_client: redis.Redis, aof_celery: Celery
) -> None:
    env = {**aof_env, "STOCK_BROKER_URL": aof_env["SHOAL_REDIS_URL"]}
    argv = [sys.executable, "-m", "celery", "-A", "tests.integration.delivery.stock_app",
            "worker", "-P", "prefork", "-c", "1", "-Q", QUEUE, "--without-mingle",
            "--without-gossip"]  # fmt: skip
    stock = procs.start(argv, env=env, name="stock")
    _stop_then_publish_then_kill(stock, aof_client, aof_celery, "brpop")
    assert aof_client.llen(QUEUE) == 0
    assert aof_client.hlen("unacked") == 0  # nowhere: lost for good


def test_shoal_keeps_a_message_taken_by_a_worker_killed_before_it_read_it(
    procs: ProcessTracker,
    aof_env: dict[str, str],
    aof_client: redis.Redis,
    aof_celery: Celery,
    record_file: Path,
) -> None:
    env = {**aof_env, "SHOAL_LIVENESS_TIMEOUT_S": "6"}
    first = procs.worker(QUEUE, env=env, name="first")
    _stop_then_publish_then_kill(first, aof_client, aof_celery, "blmove")
    # In the killed worker's staging list: the census counts it as held by a dead worker once
    # the worker's deadline passes (a live worker's staged message is counted from its next
    # fetch, milliseconds later; this one was stopped before it could fetch).
    wait_for(
        lambda: census.read(aof_client, [QUEUE])[QUEUE][:2] == (0, 1),
        timeout_s=30,
        message="the census to count the dead worker's message",
    )
    assert aof_client.llen(QUEUE) == 0  # nobody recovered it yet: no worker runs

    procs.worker(QUEUE, env=env, name="second")
    wait_for(lambda: "x" in done_tags(record_file), timeout_s=90, message="the task to run")
    assert census.read(aof_client, [QUEUE])[QUEUE][:2] == (0, 0)
