"""The autoscaler's costs: one observation, one decision pass, and the reaction to a burst.

1. observe: 1,000 queues, 4 priority lists each holding 3 kombu messages with a
   ``published_at`` header, 5 workers' in-flight entries and a completed counter per queue.
   One observation of every queue (the Lua script, and the plain-pipeline fallback) against
   the raw cost of pipelined LLEN calls on the same 4,000 lists. Round trips are counted at
   the socket (``send_packed_command`` calls). Target: p50 < 20 ms.
2. decide: one pass of the pure policy over 1,000 queues whose states carry a full 300 s of
   recommendation history. Target: p50 < 5 ms.
3. react: the controller loop (default poll interval 2 s, dry-run actuator) on idle queues; a
   burst of 3,000 messages lands at a random moment of the poll cycle; time from the burst
   landing to the first scale-up decision. Target: <= poll interval + 1 s (KEDA's default
   polling interval is 30 s).

    python -m bench.autoscaler_bench [--queues N] [--repeats R] [--bursts B]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from redis.connection import Connection

from bench import common
from scheduler.autoscaler.config import QueuePolicy, parse_config
from scheduler.autoscaler.controller import Controller, Outcome
from scheduler.autoscaler.dry_run import DryRunActuator
from scheduler.autoscaler.model import Observation, QueueState
from scheduler.autoscaler.policy import decide
from scheduler.autoscaler.redis_source import CountsReader, RedisSource
from workers import keys

NAME = "autoscaler"
STEPS = (0, 3, 6, 9)
SEP = "\x06\x16"
OBSERVE_TARGET_MS = 20.0
DECIDE_TARGET_MS = 5.0
POLL_S = 2.0
REACTION_SLACK_S = 1.0


def envelope(queue: str, published_at: float) -> str:
    """A kombu message as a stock Celery 5 client writes it (protocol 2, JSON)."""
    return json.dumps(
        {
            "body": "W1tdLCB7fSwgeyJjYWxsYmFja3MiOiBudWxsLCAiZXJyYmFja3MiOiBudWxsfV0=",
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "py",
                "task": "shoal.noop",
                "id": "2f1c6d1e-3f0e-4a55-9d65-0b7f5a2f6b11",
                "retries": 0,
                "root_id": "2f1c6d1e-3f0e-4a55-9d65-0b7f5a2f6b11",
                "parent_id": None,
                "origin": "gen1234@client",
                "published_at": published_at,
            },
            "properties": {
                "correlation_id": "2f1c6d1e-3f0e-4a55-9d65-0b7f5a2f6b11",
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": "a3c9f1e2-5b7d-4c1a-9e8f-123456789abc",
            },
        }
    )


def fill(client: redis.Redis, queues: list[str]) -> None:
    now = time.time()
    expires = int((now + 3600) * 1000)
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        for name in keys.priority_lists(queue, STEPS, SEP):
            pipe.lpush(name, *[envelope(queue, now - 30 + i) for i in range(3)])
        pipe.hset(
            keys.inflight(queue),
            mapping={f"{queue}-w{w}": keys.encode_inflight(w, expires) for w in range(5)},
        )
        pipe.hset(keys.stats(queue), "completed", 1000)
    pipe.execute()


@contextmanager
def counting_round_trips() -> Iterator[list[int]]:
    """Counts the packed sends on every connection (one per round trip)."""
    counter = [0]
    original = Connection.send_packed_command

    def counted(self: Connection, command: Any, check_health: bool = True) -> None:
        counter[0] += 1
        original(self, command, check_health)

    Connection.send_packed_command = counted  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        Connection.send_packed_command = original  # type: ignore[method-assign]


def timed(fn: Callable[[], object], repeats: int) -> tuple[list[float], int]:
    """Milliseconds per call, and round trips per call."""
    fn()  # warm: connection, script cache
    times = []
    with counting_round_trips() as trips:
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
    return times, trips[0] // repeats


def bench_observe(url: str, n_queues: int, repeats: int) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    queues = [f"q{i}" for i in range(n_queues)]
    fill(client, queues)
    lists = [name for q in queues for name in keys.priority_lists(q, STEPS, SEP)]
    script = CountsReader(client, steps=STEPS, sep=SEP, use_script=True)
    pipeline = CountsReader(client, steps=STEPS, sep=SEP, use_script=False)
    now_ms = int(time.time() * 1000)
    check = script.read(queues, now_ms)
    assert check == pipeline.read(queues, now_ms) or all(
        check[q].backlog == 12 and check[q].in_flight == 10 for q in queues
    ), "script and pipeline disagree"

    def raw_llen() -> object:
        pipe = client.pipeline(transaction=False)
        for name in lists:
            pipe.llen(name)
        return pipe.execute()

    variants = {
        "observe (Lua script)": lambda: script.read(queues, int(time.time() * 1000)),
        "observe (pipeline fallback)": lambda: pipeline.read(queues, int(time.time() * 1000)),
        "raw pipelined LLEN": raw_llen,
    }
    samples: dict[str, list[float]] = {k: [] for k in variants}
    trips: dict[str, int] = {}
    for round_ in range(repeats):  # interleaved, so load changes hit every variant alike
        order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
        for name in order:
            times, per_call = timed(variants[name], 1)
            samples[name] += times
            trips[name] = per_call
    client.close()
    base = common.median(samples["raw pipelined LLEN"])
    return {
        name: {
            "p50_ms": round(common.median(times), 2),
            "min_ms": round(min(times), 2),
            "round_trips": trips[name],
            "ratio_to_raw_llen": round(common.ratio(common.median(times), base), 2),
        }
        for name, times in samples.items()
    }


def bench_decide(n_queues: int, repeats: int) -> dict[str, Any]:
    rng = random.Random(7)
    policy = QueuePolicy(
        name="q", concurrency=8, min_replicas=0, max_replicas=50, target_backlog_per_replica=100
    )
    states = [QueueState.initial() for _ in range(n_queues)]
    current = [rng.randint(0, 10) for _ in range(n_queues)]
    now = 0.0

    def observations() -> list[Observation]:
        return [
            Observation(
                backlog=rng.randint(0, 3000),
                in_flight=min(current[i] * 8, rng.randint(0, 80)),
                arrival_rate_per_s=rng.uniform(0, 50),
                completion_rate_per_s=rng.uniform(0, 50),
                current_replicas=current[i],
            )
            for i in range(n_queues)
        ]

    def one_pass(now: float, observed: list[Observation] | None = None) -> float:
        """Decide for every queue; the seconds the decisions took (not the set-up)."""
        observed = observed or observations()
        started = time.perf_counter()
        for i in range(n_queues):
            decision = decide(observed[i], states[i], policy, now)
            states[i], current[i] = decision.state, decision.desired
        return time.perf_counter() - started

    for _ in range(150):  # 300 s of history at 2 s: full scaleDown windows
        now += POLL_S
        one_pass(now)
    times = []
    for _ in range(repeats):
        now += POLL_S
        times.append(one_pass(now) * 1000)
    return {"p50_ms": round(common.median(times), 2), "min_ms": round(min(times), 2)}


def bench_react(url: str, bursts: int) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    client.flushall()
    names = [f"burst{i}" for i in range(bursts)]
    config = parse_config(
        {
            "pollIntervalSeconds": POLL_S,
            "queues": [
                {
                    "name": name,
                    "concurrency": 4,
                    "autoscaling": {"minReplicas": 0, "targetBacklogPerReplica": 100},
                }
                for name in names
            ],
        }
    )
    first_up: dict[str, float] = {}

    class Timed(Controller):
        def step(self) -> list[Outcome]:
            outcomes = super().step()
            at = time.monotonic()
            for o in outcomes:
                if o.decision.desired > 0:
                    first_up.setdefault(o.queue.name, at)
            return outcomes

    controller = Timed(
        config=config,
        source=RedisSource(client, steps=STEPS, sep=SEP),
        actuator=DryRunActuator(out=open("/dev/null", "w")),  # noqa: SIM115
    )
    stop = threading.Event()
    loop = threading.Thread(target=controller.run, args=(stop,), daemon=True)
    loop.start()
    rng = random.Random(11)
    reactions = []
    try:
        time.sleep(POLL_S)
        for name in names:
            time.sleep(rng.uniform(0, POLL_S))
            pipe = client.pipeline(transaction=False)
            pipe.lpush(name, *[envelope(name, time.time()) for _ in range(3000)])
            pipe.execute()
            landed = time.monotonic()
            common.wait_until(lambda n=name: n in first_up, timeout_s=30, message="a scale-up")
            reactions.append(first_up[name] - landed)
    finally:
        stop.set()
        loop.join(10)
        client.close()
    return {
        "poll_interval_s": POLL_S,
        "p50_s": round(common.median(reactions), 2),
        "max_s": round(max(reactions), 2),
        "samples_s": [round(r, 2) for r in reactions],
    }


def main(argv: list[str] | None = None) -> int:
    common.exit_on_sigterm()
    p = argparse.ArgumentParser(prog="python -m bench.autoscaler_bench", description=__doc__)
    p.add_argument("--queues", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--bursts", type=int, default=5)
    args = p.parse_args(argv if argv is not None else sys.argv[1:])
    result: dict[str, Any] = {"machine": common.machine(), "queues": args.queues}
    with common.workdir("autoscaler") as work, common.private_redis(work) as url:
        result["observe"] = bench_observe(url, args.queues, args.repeats)
        result["decide"] = bench_decide(args.queues, args.repeats)
        result["react"] = bench_react(url, args.bursts)
    observe = result["observe"]["observe (Lua script)"]
    checks = {
        "observe p50 < 20 ms": observe["p50_ms"] < OBSERVE_TARGET_MS,
        "observe in 1 round trip": observe["round_trips"] == 1,
        "decide p50 < 5 ms": result["decide"]["p50_ms"] < DECIDE_TARGET_MS,
        "reaction <= poll + 1 s": result["react"]["max_s"] <= POLL_S + REACTION_SLACK_S,
    }
    result["checks"] = checks
    rows = [
        [name, f"{v['p50_ms']:.1f}", f"{v['min_ms']:.1f}", v["round_trips"], v["ratio_to_raw_llen"]]
        for name, v in result["observe"].items()
    ]
    print(f"{args.queues} queues x {len(STEPS)} lists, load {result['machine']}")
    print(common.table(["observation", "p50 ms", "min ms", "round trips", "x raw LLEN"], rows))
    print(
        f"\ndecision pass over {args.queues} queues: p50 {result['decide']['p50_ms']:.2f} ms "
        f"(min {result['decide']['min_ms']:.2f})"
    )
    react = result["react"]
    print(
        f"reaction, burst landed -> first scale-up (poll {POLL_S:g} s): p50 {react['p50_s']} s, "
        f"max {react['max_s']} s over {len(react['samples_s'])} bursts"
    )
    print(
        "\n"
        + common.table(["check", "met"], [[k, "yes" if v else "NO"] for k, v in checks.items()])
    )
    path = common.write_json(NAME, result)
    print(f"\nwrote {path}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
