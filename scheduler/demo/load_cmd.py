"""``shoal load``: a load generator that publishes built-in tasks with a stock Celery client.

    shoal load --trace FILE [--speed X]             replay a trace CSV (see docs/simulate.md)
    shoal load --queue Q --rate R --duration-s D    R tasks per second for D seconds
    shoal load --queue Q --burst N                  N tasks at once

Each task mimics its service time: ``shoal.io_wait(seconds)`` by default (a sleep, cooperative
under gevent), or ``shoal.slow`` / ``shoal.cpu`` (SHA-256 rounds calibrated on this machine).
Service times are the trace's mean (``--service deterministic``, the default) or drawn from an
exponential with that mean (``--service exponential``, seeded by ``--seed``). The client is a
stock Celery app set up by the publisher kit (:func:`workers.kit.configure`): JSON, priorities
(``--priority``, 9 the most urgent) and a ``published_at`` header on every message, so the
autoscaler sees the oldest task's age. A trace's ``delay_s`` is published as Celery's
``countdown`` (divided by ``--speed`` like the times). The broker is ``--redis-url``, else
``SHOAL_REDIS_URL``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from contract.connection import RedisSettings
from scheduler.simulate.trace import TraceError, parse_rows

TASKS = {"io_wait": "shoal.io_wait", "slow": "shoal.slow", "cpu": "shoal.cpu"}


class LoadError(ValueError):
    """Bad input: the message names the option or the trace line."""


@dataclass(frozen=True)
class Batch:
    """``count`` tasks for ``queue`` at ``at_s`` seconds after the start."""

    at_s: float
    queue: str
    count: int
    service_s: float
    delay_s: float = 0.0
    """Published with this countdown (0: none)."""


def trace_batches(
    lines: Iterable[str], *, speed: float = 1.0, source: str = "trace"
) -> list[Batch]:
    """The batches of a trace CSV (read by the simulator's one parser, with its rules), in
    time order; ``speed`` 2 replays twice as fast."""
    try:
        rows = parse_rows(lines, source=source)
    except TraceError as exc:
        raise LoadError(str(exc)) from None
    batches = [
        Batch(r.time_s / speed, r.queue, r.tasks, r.mean_service_s, r.delay_s / speed) for r in rows
    ]
    return sorted(batches, key=lambda b: b.at_s)


def rate_batches(
    queue: str, *, rate_per_s: float, duration_s: float, service_s: float, tick_s: float = 0.1
) -> list[Batch]:
    """``rate_per_s`` tasks per second for ``duration_s``, published every ``tick_s``."""
    batches, due, sent = [], 0.0, 0
    ticks = round(duration_s / tick_s)
    for n in range(ticks):
        due += rate_per_s * tick_s
        count = int(due) - sent
        if count > 0:
            batches.append(Batch(n * tick_s, queue, count, service_s))
            sent += count
    return batches


def service_times(
    mean_s: float, count: int, *, exponential: bool, rng: random.Random
) -> Iterator[float]:
    for _ in range(count):
        yield round(rng.expovariate(1.0 / mean_s), 4) if exponential else mean_s


def cpu_rounds_per_s(sample_rounds: int = 20_000) -> float:
    """SHA-256 rounds this machine chains per second (what ``shoal.cpu`` does)."""
    digest = b"shoal"
    start = time.perf_counter()
    for _ in range(sample_rounds):
        digest = hashlib.sha256(digest).digest()
    return sample_rounds / max(time.perf_counter() - start, 1e-6)


class Publisher:
    """Publishes built-in tasks through one producer of a stock Celery app."""

    def __init__(
        self,
        broker_url: str,
        *,
        task: str,
        exponential: bool,
        seed: int,
        priority: int | None = None,
    ) -> None:
        from celery import Celery

        from workers.kit import configure

        self.app = configure(Celery("shoal-load", set_as_current=False), redis_url=broker_url)
        self.priority = priority
        self.task = task
        self.exponential = exponential
        self.rng = random.Random(seed)
        self.rounds_per_s = cpu_rounds_per_s() if task == "cpu" else 0.0
        self.published: Counter[str] = Counter()

    def _args(self, seconds: float) -> list[Any]:
        if self.task == "cpu":
            return [max(1, int(seconds * self.rounds_per_s))]
        if self.task == "slow":
            return [seconds, "load"]
        return [seconds]

    def publish(self, batch: Batch) -> None:
        name = TASKS[self.task]
        with self.app.producer_or_acquire() as producer:
            for seconds in service_times(
                batch.service_s, batch.count, exponential=self.exponential, rng=self.rng
            ):
                self.app.send_task(
                    name,
                    args=self._args(seconds),
                    queue=batch.queue,
                    producer=producer,
                    priority=self.priority,
                    countdown=batch.delay_s or None,
                )
        self.published[batch.queue] += batch.count

    def close(self) -> None:
        self.app.close()


def run(
    batches: list[Batch], publisher: Publisher, *, max_duration_s: float | None = None
) -> float:
    """Publish each batch at its time; returns how far behind schedule the worst batch was."""
    start = time.monotonic()
    worst_lag = 0.0
    for batch in batches:
        if max_duration_s is not None and batch.at_s > max_duration_s:
            break
        delay = start + batch.at_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            worst_lag = max(worst_lag, -delay)
        publisher.publish(batch)
    return worst_lag


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shoal load", description="Publish built-in tasks to queues.")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--trace", type=Path, help="CSV time_s,queue,tasks,mean_service_s[,delay_s]")
    mode.add_argument("--rate", type=float, help="tasks per second to --queue")
    mode.add_argument("--burst", type=int, help="tasks published at once to --queue")
    p.add_argument("--queue", help="queue for --rate and --burst")
    p.add_argument("--duration-s", type=float, default=10.0, help="how long --rate runs")
    p.add_argument(
        "--service-s", type=float, default=0.2, help="mean service time for --rate/--burst"
    )
    p.add_argument(
        "--speed", type=float, default=1.0, help="replay the trace this many times faster"
    )
    p.add_argument("--max-duration-s", type=float, help="stop the trace replay after this")
    p.add_argument("--task", choices=sorted(TASKS), default="io_wait")
    p.add_argument("--service", choices=["deterministic", "exponential"], default="deterministic")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--priority", type=int, choices=range(10), help="0..9, 9 the most urgent")
    p.add_argument("--redis-url", default=None, help="broker URL (default: SHOAL_REDIS_URL)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def plan(args: argparse.Namespace) -> list[Batch]:
    if args.trace is not None:
        if args.speed <= 0:
            raise LoadError("--speed: must be > 0")
        try:
            with args.trace.open(newline="") as handle:
                return trace_batches(handle, speed=args.speed, source=str(args.trace))
        except OSError as exc:
            raise LoadError(f"--trace {args.trace}: cannot read ({exc.strerror})") from None
    if not args.queue:
        raise LoadError("--queue: required with --rate and --burst")
    if args.service_s <= 0:
        raise LoadError("--service-s: must be > 0")
    if args.burst is not None:
        if args.burst < 0:
            raise LoadError("--burst: must be >= 0")
        return [Batch(0.0, args.queue, args.burst, args.service_s)]
    if args.rate <= 0 or args.duration_s <= 0:
        raise LoadError("--rate and --duration-s: must be > 0")
    return rate_batches(
        args.queue, rate_per_s=args.rate, duration_s=args.duration_s, service_s=args.service_s
    )


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        batches = plan(args)
    except LoadError as exc:
        print(f"shoal load: {exc}", file=sys.stderr)
        return 2
    try:
        url = RedisSettings.from_env(os.environ, url_option=args.redis_url).url_with_password
    except ValueError as exc:
        print(f"shoal load: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    publisher = Publisher(
        url,
        task=args.task,
        exponential=args.service == "exponential",
        seed=args.seed,
        priority=args.priority,
    )
    started = time.monotonic()
    lag = 0.0
    try:
        lag = run(batches, publisher, max_duration_s=args.max_duration_s)
    except KeyboardInterrupt:
        pass
    finally:
        publisher.close()
    summary = {
        "published": dict(publisher.published),
        "total": sum(publisher.published.values()),
        "elapsed_s": round(time.monotonic() - started, 3),
        "worst_lag_s": round(lag, 3),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        per_queue = ", ".join(f"{q} {n}" for q, n in sorted(publisher.published.items()))
        total, elapsed = summary["total"], summary["elapsed_s"]
        print(f"shoal load: published {total} tasks ({per_queue or 'none'}) in {elapsed}s")
    return 0
