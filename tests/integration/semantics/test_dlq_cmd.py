"""``shoal dlq list|show|requeue|purge`` on real dead letters from a real worker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import redis
from celery import Celery

from tests.integration.semantics import dead_letters
from tests.support.procs import ProcessTracker, wait_for
from tests.support.tools import ROOT

QUEUE = "dlqcmd"
DONE = "shoal:test:done"


def dlq(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shoal", "dlq", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(240)
def test_list_show_requeue_and_purge_work_on_real_dead_letters(
    procs: ProcessTracker,
    semantics_env: dict[str, str],
    stock_client: Celery,
    redis_client: redis.Redis,
) -> None:
    procs.worker(QUEUE, env=semantics_env)
    for tag in ("a", "b", "c"):
        stock_client.send_task("tests.fail_until_flag", args=[tag], queue=QUEUE, priority=6)
    dead_letters.wait_for_count(redis_client, QUEUE, 3, timeout_s=90)

    listed = dlq(semantics_env, "list", QUEUE)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 3
    assert all("non_retryable" in line and "tests.fail_until_flag" in line for line in lines)
    assert dlq(semantics_env, "list").stdout.split() == [QUEUE, "3"]

    shown = dlq(semantics_env, "show", QUEUE, "0")
    assert shown.returncode == 0, shown.stderr
    entry = json.loads(shown.stdout)
    assert entry["message"]["properties"]["priority"] == 6
    assert entry["error"] == "NonRetryable: flag not set"
    by_id = dlq(semantics_env, "show", QUEUE, entry["id"][:10])
    assert json.loads(by_id.stdout)["id"] == entry["id"]
    assert dlq(semantics_env, "show", QUEUE, "nope").returncode == 1

    # Fix the cause, then requeue one entry, then the rest: each runs again, once.
    redis_client.set("shoal:test:flag", "1")
    one = dlq(semantics_env, "requeue", QUEUE, entry["id"])
    assert one.stdout.strip() == f"requeued 1 message(s) to {QUEUE}"
    wait_for(lambda: redis_client.llen(DONE) == 1, timeout_s=60, message="the requeued task")
    rest = dlq(semantics_env, "requeue", QUEUE)
    assert rest.stdout.strip() == f"requeued 2 message(s) to {QUEUE}"
    wait_for(lambda: redis_client.llen(DONE) == 3, timeout_s=60, message="all requeued tasks")
    assert sorted(v.decode() for v in redis_client.lrange(DONE, 0, -1)) == ["a", "b", "c"]
    assert dlq(semantics_env, "list", QUEUE).stdout == ""
    assert not redis_client.sismember("shoal:dlq-queues", QUEUE)

    # Purge.
    redis_client.delete("shoal:test:flag")
    stock_client.send_task("tests.fail_until_flag", args=["d"], queue=QUEUE)
    dead_letters.wait_for_count(redis_client, QUEUE, 1, timeout_s=60)
    purged = dlq(semantics_env, "purge", QUEUE)
    assert purged.stdout.strip() == f"purged 1 dead letter(s) of {QUEUE}"
    assert redis_client.llen(f"shoal:dlq:{QUEUE}") == 0
