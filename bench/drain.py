"""Draining a queue with one worker: publish copies of a stock client's message, start the
worker, time it until the queue is empty and nothing is held unacknowledged (kombu's unacked
hash, shoal's held records), check its log.

Used by the worker benchmarks (``bench.worker_throughput``, ``bench.gevent_io``). Processes are
started and stopped with :func:`tests.support.procs.running`, so every one of them is stopped at the
end of its round, also on an error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import redis

from bench import common
from bench.common import UNACKED_KEY, child_env, ratio
from tests.support.ports import free_port
from tests.support.procs import Proc, running


def message_template(url: str, queue: str, task: str, args: Sequence[object]) -> dict[str, Any]:
    """The Redis message a stock Celery 5 client publishes for ``task`` (results ignored).

    The client publishes once; the raw message is taken back off the list and used as a
    template, so a benchmark can push thousands of copies in a few pipelined round trips.
    """
    from celery import Celery

    app = Celery("bench-client", broker=url, set_as_current=False)
    app.conf.task_serializer = "json"
    client = redis.Redis.from_url(url)
    try:
        app.send_task(task, args=list(args), queue=queue, ignore_result=True)
        raw = client.rpop(queue)
    finally:
        app.close()
        client.close()
    if raw is None:
        raise RuntimeError(f"bench: the stock client's message did not land on list {queue!r}")
    template: dict[str, Any] = json.loads(cast(bytes, raw))
    return template


def publish_copies(
    client: redis.Redis, queue: str, template: Mapping[str, Any], count: int, batch: int = 1000
) -> float:
    """LPUSH ``count`` copies of ``template``, each with its own task id and delivery tag.

    Returns the seconds it took (building and pushing).
    """
    started = time.perf_counter()
    headers = dict(template["headers"])
    properties = dict(template["properties"])
    for start in range(0, count, batch):
        pipe = client.pipeline(transaction=False)
        messages = []
        for _ in range(min(batch, count - start)):
            task_id = str(uuid.uuid4())
            headers.update(id=task_id, root_id=task_id)
            properties.update(correlation_id=task_id, delivery_tag=str(uuid.uuid4()))
            messages.append(json.dumps({**template, "headers": headers, "properties": properties}))
        pipe.lpush(queue, *messages)
        pipe.execute()
    return time.perf_counter() - started


class RoundFailed(RuntimeError):
    """A round could not finish: the worker died, stalled or ran out of time."""


def _failure(proc: Proc, what: str) -> RoundFailed:
    first_error = log_findings(proc.output())["first_error"]
    return RoundFailed(f"{what}; first error in the worker log: {first_error or 'none'}")


def watch_drain(
    client: redis.Redis,
    lists: Sequence[str],
    total: int,
    *,
    proc: Proc,
    timeout_s: float,
    stall_s: float = 30.0,
    interval_s: float = 0.01,
) -> dict[str, float]:
    """Poll until the queue's lists and kombu's unacked hash are both empty.

    Returns monotonic times: ``fetch`` (the first message left the lists), ``ack`` (the first
    message was acknowledged) and ``done`` (nothing queued or unacknowledged, seen twice
    50 ms apart so a message between BRPOP and its unacked entry is not mistaken for done),
    and ``cpu_s``, the CPU seconds the worker's process group used from fetch to done.
    Raises :class:`RoundFailed` when the worker exits, when nothing changes for ``stall_s``
    after the first fetch (e.g. acks that failed leave messages in the unacked hash), or at
    ``timeout_s``.
    """
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}
    deadline = time.monotonic() + timeout_s
    last_change, last_remaining = time.monotonic(), -1
    while True:
        queued, unacked = _lengths(client, lists)
        now = time.monotonic()
        remaining = queued + unacked
        if queued < total and "fetch" not in times:
            times["fetch"] = now
            cpu["fetch"] = group_cpu_s(proc.pid)
        if remaining < total:
            times.setdefault("ack", now)
        if remaining == 0:
            time.sleep(0.05)
            if sum(_lengths(client, lists)) == 0:
                times["done"] = now
                times["cpu_s"] = group_cpu_s(proc.pid) - cpu["fetch"]
                return times
        if remaining != last_remaining:
            last_change, last_remaining = now, remaining
        if not proc.alive():
            raise _failure(proc, f"the worker exited early (code {proc.popen.returncode})")
        if "fetch" in times and now - last_change > stall_s:
            raise _failure(
                proc, f"stalled: {queued} queued and {unacked} unacked unchanged for {stall_s}s"
            )
        if now > deadline:
            raise _failure(proc, f"timed out: {remaining} of {total} tasks left after {timeout_s}s")
        time.sleep(interval_s)


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of group ``pgid``.

    Less sensitive than wall time to other work on a shared machine; read from /proc.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        # After the command: state ppid pgrp session ... utime (14th field) stime (15th).
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def _lengths(client: redis.Redis, lists: Sequence[str]) -> tuple[int, int]:
    """(messages in the queue's lists, messages taken but not acknowledged: in kombu's unacked
    hash for a stock worker, in the held records for shoal's)."""
    from contract import census

    pipe = client.pipeline(transaction=False)
    for name in lists:
        pipe.llen(name)
    pipe.hlen(UNACKED_KEY)
    *lengths, unacked = pipe.execute()
    holding = census.read(client, [lists[0]])[lists[0]]
    return sum(int(n) for n in lengths), int(unacked) + holding.held_live + holding.held_dead


def shoal_worker_env(url: str, work: Path, worker_id: str, **extra: str) -> dict[str, str]:
    """Production defaults, except the ports: free ones, so metrics and health really run."""
    prom_dir = work / f"prom-{worker_id}"
    prom_dir.mkdir(parents=True, exist_ok=True)
    env = child_env(
        SHOAL_REDIS_URL=url,
        SHOAL_METRICS_PORT=str(free_port()),
        SHOAL_HEALTH_PORT=str(free_port()),
        SHOAL_WORKER_ID=worker_id,
        PROMETHEUS_MULTIPROC_DIR=str(prom_dir),
    )
    env.update(extra)
    return env


def log_findings(text: str) -> dict[str, Any]:
    """Per-task success lines (INFO only) and error lines in a Celery worker's log."""
    errors = [
        line
        for line in text.splitlines()
        if "ERROR/" in line or "CRITICAL/" in line or "Traceback" in line or "unregistered" in line
    ]
    return {
        "succeeded_lines": text.count(" succeeded in "),
        "error_lines": len(errors),
        "first_error": errors[0][:300] if errors else None,
    }


def drain_round(
    url: str,
    *,
    argv: Sequence[str],
    env: Mapping[str, str],
    queue: str,
    template: Mapping[str, Any],
    count: int,
    log: Path,
    timeout_s: float,
) -> dict[str, Any]:
    """One round: empty Redis, publish ``count`` tasks, start the worker, time the drain.

    ``drain_s`` runs from the first message taken off the queue to the last acknowledged
    (worker start-up excluded); ``wall_s`` from the worker's launch to the last ack.
    """
    from contract import keys
    from contract.priority import priority_lists

    client = redis.Redis.from_url(url)
    try:
        client.flushall()
        publish_s = publish_copies(client, queue, template, count)
        lists = priority_lists(queue)
        with running(argv, env=env, log=log) as proc:
            times = watch_drain(client, lists, count, proc=proc, timeout_s=timeout_s)
            stop_started = time.monotonic()
            proc.stop(grace_s=20.0)
            stop_s = time.monotonic() - stop_started
            findings = log_findings(proc.output())
        dead_letters = int(client.llen(keys.dead_letter(queue)))
    finally:
        client.close()
    drain_s = times["done"] - times["fetch"]
    wall_s = times["done"] - proc.started_at
    return {
        "tasks": count,
        "publish_s": round(publish_s, 3),
        "startup_s": round(times["fetch"] - proc.started_at, 3),
        "drain_s": round(drain_s, 3),
        "wall_s": round(wall_s, 3),
        "tasks_per_s": round(ratio(count, drain_s), 1),
        "cpu_s": round(times["cpu_s"], 2),
        "cpu_ms_per_task": round(1000 * times["cpu_s"] / count, 3),
        "wall_tasks_per_s": round(ratio(count, wall_s), 1),
        "stop_s": round(stop_s, 3),
        "dead_letters": dead_letters,
        **findings,
    }


def attempt_round(url: str, **kwargs: Any) -> dict[str, Any]:
    """:func:`drain_round`, with a failed round recorded as ``{"failed": reason}``."""
    try:
        return drain_round(url, **kwargs)
    except RoundFailed as exc:
        print(f"  round failed: {exc}", file=sys.stderr, flush=True)
        return {"failed": str(exc), "tasks": kwargs.get("count")}


def succeeded(results: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [r for r in results if "failed" not in r]


def problems(results: Mapping[str, Sequence[Mapping[str, Any]]]) -> int:
    """Failed rounds, error lines in worker logs and dead letters, over every variant."""
    return sum(
        1 if "failed" in r else r["error_lines"] + r["dead_letters"]
        for rounds in results.values()
        for r in rounds
    )


def timed_run(
    name: str, run: Callable[[argparse.Namespace], dict[str, Any]], args: argparse.Namespace
) -> tuple[dict[str, Any], Path]:
    """``run(args)`` with its ``elapsed_s``, written to ``bench/out/NAME.json``."""
    started = time.monotonic()
    data = run(args)
    data["elapsed_s"] = round(time.monotonic() - started, 1)
    path = common.write_json(name, data)
    print()
    return data, path


def report_problems(name: str, results: Mapping[str, Sequence[Mapping[str, Any]]]) -> int:
    """Count :func:`problems` and say so when there are any; returns the count."""
    bad = problems(results)
    if bad:
        print(f"{name}: {bad} failed round(s), error line(s) or dead letter(s): see the JSON")
    return bad
