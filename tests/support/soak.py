"""A SIGKILL loop while bursts of tasks flow, counting every task: the delivery soak.

Used by ``tests/integration/delivery/test_kill_loop.py`` (a few kills) and
``bench/delivery_soak.py`` (hundreds). Workers run ``delivery.work`` (it records its start and its
end in a file, :mod:`tests.integration.delivery.tasks`); each round publishes a burst, kills one
worker at a random instant (its whole process group, or its main process only), reads what the
dead worker held from its record in Redis, and starts a replacement at once, as Kubernetes
would. At the end every task must be done; each task the killed worker held must start again,
and the soak measures how long after the kill it did.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from contract import held, keys
from tests.support.procs import Proc, wait_for

QUEUE = "soak"


@dataclass(frozen=True)
class SoakConfig:
    pool: str = "prefork"
    concurrency: int = 2
    kill_mode: str = "group"
    """``group``: the worker's whole process group; ``main``: its main process only."""
    kills: int = 5
    burst: int = 300
    task_s: float = 0.01
    workers: int = 2
    kill_after_s: tuple[float, float] = (0.3, 2.0)
    """A kill lands at a random instant in this window after a burst is published."""
    seed: int = 1


@dataclass
class Kill:
    worker_id: str
    at: float
    held: list[str]
    restarted_after_s: dict[str, float] = field(default_factory=dict)
    held_again: set[str] = field(default_factory=set)
    """Tasks a later kill found held again before they started: timed from that kill."""


@dataclass
class SoakReport:
    config: SoakConfig
    published: int = 0
    done_once: int = 0
    lost: list[str] = field(default_factory=list)
    done_twice: int = 0
    started_twice: int = 0
    started_twice_unheld: int = 0
    """Tasks started more than once that no victim held when it was killed: a task run again
    while a live worker held it (must be 0)."""
    kills: list[Kill] = field(default_factory=list)
    drain_s: float = 0.0

    @property
    def held_at_kills(self) -> int:
        return sum(len(k.held) for k in self.kills)

    @property
    def not_restarted(self) -> list[str]:
        return [
            t
            for k in self.kills
            for t in k.held
            if t not in k.restarted_after_s and t not in k.held_again
        ]

    @property
    def restart_delays_s(self) -> list[float]:
        return [d for k in self.kills for d in k.restarted_after_s.values()]

    def summary(self) -> dict[str, Any]:
        delays = sorted(self.restart_delays_s)
        return {
            "pool": self.config.pool,
            "kill_mode": self.config.kill_mode,
            "kills": len(self.kills),
            "published": self.published,
            "lost": len(self.lost),
            "done_twice": self.done_twice,
            "started_twice": self.started_twice,
            "started_twice_unheld": self.started_twice_unheld,
            "held_at_kills": self.held_at_kills,
            "held_again_by_a_later_kill": sum(len(k.held_again) for k in self.kills),
            "not_restarted": len(self.not_restarted),
            "restart_median_s": round(delays[len(delays) // 2], 2) if delays else None,
            "restart_max_s": round(delays[-1], 2) if delays else None,
            "drain_s": round(self.drain_s, 1),
        }


def events(path: Path) -> list[tuple[str, str, int, float]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        kind, tag, pid, at = line.split()
        out.append((kind, tag, int(pid), float(at)))
    return out


def tag_of(raw: bytes) -> str:
    """The first argument (the tag) of a ``delivery.work`` message as kombu stores it."""
    message = json.loads(raw)
    args = json.loads(base64.b64decode(message["body"]))[0]
    return str(args[0])


def held_tags(client: redis.Redis, worker_id: str) -> list[str]:
    """What every incarnation of ``worker_id`` holds in Redis right now."""
    tags = []
    for member in client.zrange(keys.workers(), 0, -1):
        incarnation = member.decode()
        if not incarnation.startswith(worker_id + ":"):
            continue
        for record in held.records(client, incarnation):
            for raw in client.hvals(record.held_key):
                tags.append(tag_of(raw))
            for raw in client.lrange(record.staging_key, 0, -1):
                tags.append(tag_of(raw))
    return tags


def joined(client: redis.Redis, worker_id: str) -> bool:
    """Whether ``worker_id`` consumes (its record is in Redis)."""
    prefix = (worker_id + ":").encode()
    return any(m.startswith(prefix) for m in client.zrange(keys.workers(), 0, -1))


def kill(proc: Proc, mode: str) -> None:
    if mode == "group":
        proc.kill_group(signal.SIGKILL)
    else:
        os.kill(proc.pid, signal.SIGKILL)


def run(
    url: str,
    record_file: Path,
    config: SoakConfig,
    start_worker: Callable[[str], Proc],
    *,
    drain_timeout_s: float = 300.0,
) -> SoakReport:
    """The soak: ``start_worker(worker_id)`` starts one worker of the soak queue."""
    rng = random.Random(config.seed)
    report = SoakReport(config)
    client = redis.Redis.from_url(url)
    app = Celery("soak", broker=url, set_as_current=False)
    app.conf.task_serializer = "json"
    serial = 0
    live: dict[str, Proc] = {}
    victims: list[Proc] = []
    try:
        for _ in range(config.workers):
            serial += 1
            live[f"soak{serial}"] = start_worker(f"soak{serial}")
        for _ in range(config.kills):
            for worker_id in live:
                wait_for(
                    lambda w=worker_id: joined(client, w),  # type: ignore[misc]
                    timeout_s=90, message=f"{worker_id} consuming", error=TimeoutError,
                )  # fmt: skip
            start = report.published
            with app.producer_or_acquire() as producer:
                for i in range(start, start + config.burst):
                    app.send_task(
                        "delivery.work", args=[f"t{i}", config.task_s], queue=QUEUE,
                        ignore_result=True, producer=producer,
                    )  # fmt: skip
            report.published += config.burst
            time.sleep(rng.uniform(*config.kill_after_s))
            victim_id = rng.choice(sorted(live))
            victim = live.pop(victim_id)
            kill(victim, config.kill_mode)
            at = time.time()
            victim.wait(10)
            report.kills.append(Kill(victim_id, at, held_tags(client, victim_id)))
            victims.append(victim)  # a main-only kill leaves pool processes running on
            serial += 1
            live[f"soak{serial}"] = start_worker(f"soak{serial}")
        started = time.monotonic()
        everything = {f"t{i}" for i in range(report.published)}
        wait_for(
            lambda: everything <= {t for k, t, _, _ in events(record_file) if k == "done"},
            timeout_s=drain_timeout_s,
            interval_s=0.5,
            message="every task done",
            error=TimeoutError,
        )
        report.drain_s = time.monotonic() - started
    except TimeoutError:
        pass
    finally:
        for victim in victims:
            victim.kill_group(signal.SIGKILL)
        client.close()
        app.close()
    _count(report, record_file)
    return report


def _count(report: SoakReport, record_file: Path) -> None:
    seen = events(record_file)
    done = Counter(t for k, t, _, _ in seen if k == "done")
    starts = Counter(t for k, t, _, _ in seen if k == "start")
    everything = [f"t{i}" for i in range(report.published)]
    report.lost = [t for t in everything if not done[t]]
    report.done_once = sum(1 for t in everything if done[t] == 1)
    report.done_twice = sum(1 for t in everything if done[t] > 1)
    report.started_twice = sum(1 for t in everything if starts[t] > 1)
    held_by_victims = {t for k in report.kills for t in k.held}
    report.started_twice_unheld = sum(
        1 for t in everything if starts[t] > 1 and t not in held_by_victims
    )
    for n, k in enumerate(report.kills):
        wanted = set(k.held)
        for kind, tag, _, at in seen:
            if kind == "start" and tag in wanted and at > k.at and tag not in k.restarted_after_s:
                k.restarted_after_s[tag] = at - k.at
        for later in report.kills[n + 1 :]:
            for tag in wanted & set(later.held):
                started = k.restarted_after_s.get(tag)
                if started is None or k.at + started > later.at:
                    k.held_again.add(tag)  # taken by the next victim before it started
                    k.restarted_after_s.pop(tag, None)
