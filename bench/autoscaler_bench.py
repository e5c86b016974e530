"""The autoscaler's costs: one observation, one decision pass, and the reaction to a burst.

1. observe: 1,000 queues, each with 4 priority lists (all 4,000 counted), 5 workers' in-flight
   entries, a completed counter and 3 delayed tasks per queue, ``--workers`` worker processes
   with held records (4 lists each, one message held) for the delivery census, and waiting
   tasks on every queue: 3 kombu messages (a stock Celery client's envelope, ~950 bytes, with
   a ``published_at`` header) in its base list, so 1,000 tails are read for the oldest task's
   age. Target: p50 < 20 ms for the observation as the controller polls it
   (``RedisSource.observe``: the script, the census and the rates), in one round trip. Then a
   stress filling, reported without a target: 3 messages in every list, so all 4,000 tails
   (4 MB) go through Redis's Lua, which hashes every byte of every string it is given.
   Variants, interleaved round by round: the Lua script alone, the same plus the rates with and
   without the census, the plain-pipeline fallback, and the raw cost of pipelined LLEN calls on
   the same 4,000 lists. Round trips are counted at the socket (``send_packed_command`` calls).
   Then the census alone (``contract.census.read``) over the 1,000 queues for several numbers
   of worker processes, and the controller's upkeep (promote with nothing due, sweep).
2. decide: one pass of the pure policy over 1,000 queues whose states carry a full 300 s of
   recommendation history. Target: p50 < 5 ms.
3. react: the controller loop (default poll interval 2 s, dry-run actuator) on idle queues; a
   burst of 3,000 messages lands at a random moment of the poll cycle; time from the burst
   landing to the first scale-up decision. Target: <= poll interval + 1 s (KEDA's default
   polling interval is 30 s).

    python -m bench.autoscaler_bench [--queues N] [--repeats R] [--bursts B] [--only PART]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
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
from contract import census, delayed, held, keys
from contract.inflight import encode as encode_inflight
from contract.priority import priority_lists
from scheduler.autoscaler.config import QueuePolicy, parse_config
from scheduler.autoscaler.controller import Controller, Outcome
from scheduler.autoscaler.dry_run import DryRunActuator
from scheduler.autoscaler.model import Observation, QueueState
from scheduler.autoscaler.policy import decide
from scheduler.autoscaler.redis_source import CountsReader, RedisSource
from scheduler.autoscaler.upkeep import Upkeep

NAME = "autoscaler"
STEPS = (0, 3, 6, 9)
SEP = "\x06\x16"
OBSERVE_TARGET_MS = 20.0
DECIDE_TARGET_MS = 5.0
POLL_S = 2.0
REACTION_SLACK_S = 1.0
WORKERS = 200
"""Worker processes with held records in the observe scenario (a busy installation's pods)."""
CENSUS_WORKERS = (0, 200, 1000, 2000)


def envelope(queue: str, published_at: float) -> str:
    """A kombu message as a stock Celery 5.7 client writes it (protocol 2, JSON), with the
    ``published_at`` header that shoal's publish hook adds last: about 950 bytes."""
    task_id = "2f1c6d1e-3f0e-4a55-9d65-0b7f5a2f6b11"
    return json.dumps(
        {
            "body": "W1sxLCAieCJdLCB7fSwgeyJjYWxsYmFja3MiOiBudWxsLCAiZXJyYmFja3MiOiBudWxsLCAiY2hh"
            "aW4iOiBudWxsLCAiY2hvcmQiOiBudWxsfV0=",
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "py",
                "task": "shoal.noop",
                "id": task_id,
                "shadow": None,
                "eta": None,
                "expires": None,
                "group": None,
                "group_index": None,
                "retries": 0,
                "timelimit": [None, None],
                "root_id": task_id,
                "parent_id": None,
                "argsrepr": "[1, 'x']",
                "kwargsrepr": "{}",
                "origin": "gen1234@client",
                "ignore_result": None,
                "replaced_task_nesting": 0,
                "stamped_headers": None,
                "stamps": {},
                "published_at": published_at,
            },
            "properties": {
                "correlation_id": task_id,
                "reply_to": "7dc4de81-e854-3f64-9b5f-3b4cf2848065",
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": "a3c9f1e2-5b7d-4c1a-9e8f-123456789abc",
            },
        }
    )


def fill(client: redis.Redis, queues: list[str], busy_lists: int = len(STEPS)) -> None:
    """Per queue: 3 messages in each of its first ``busy_lists`` lists (the base list first),
    5 workers' in-flight entries, a completed counter and 3 delayed tasks (due in an hour)."""
    now = time.time()
    expires = int((now + 3600) * 1000)
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        for name in priority_lists(queue, STEPS, SEP)[:busy_lists]:
            pipe.lpush(name, *[envelope(queue, now - 30 + i) for i in range(3)])
        pipe.hset(
            keys.inflight(queue),
            mapping={f"{queue}-w{w}": encode_inflight(w, expires) for w in range(5)},
        )
        pipe.hset(keys.stats(queue), "completed", 1000)
        members = {delayed.member(queue, envelope(queue, now).encode() + b"%d" % i): expires + i
                   for i in range(3)}  # fmt: skip
        pipe.zadd(keys.delayed(queue), members)
    pipe.execute()


def hire(client: redis.Redis, queues: list[str], workers: int) -> None:
    """``workers`` worker processes (each consuming one queue, round robin) with held records
    naming the queue's 4 lists and one message held, alive for an hour."""
    client.delete(keys.workers())
    for key in client.scan_iter(match=f"{keys.PREFIX}:worker:*", count=1000):
        client.delete(key)
    for key in client.scan_iter(match=f"{keys.PREFIX}:held:*", count=1000):
        client.delete(key)
    pipe = client.pipeline(transaction=False)
    for w in range(workers):
        queue = queues[w % len(queues)]
        inc = held.new_incarnation(f"{queue}-pod{w}")
        records = [held.ListRecord.of(inc, queue, n) for n in priority_lists(queue, STEPS, SEP)]
        fields: dict[str | bytes, str | int] = dict(r.field() for r in records)
        pipe.hset(keys.worker(inc), mapping={"ttl_ms": 3_600_000, **fields})
        pipe.hset(records[0].held_key, "1", envelope(queue, time.time()))
        pipe.zadd(keys.workers(), {inc: int(time.time() * 1000) + 3_600_000})
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
    """Milliseconds per call, and round trips per call.

    Python's cyclic garbage collector is paused during each timed call, as ``timeit`` does: a
    collection of the benchmark's own heap (the other variants' garbage) would otherwise land
    in whichever call happens to cross the threshold. Collected between calls instead.
    """
    fn()  # warm: connection, script cache
    times = []
    with counting_round_trips() as trips:
        for _ in range(repeats):
            gc.collect()
            gc.disable()
            try:
                started = time.perf_counter()
                fn()
                times.append((time.perf_counter() - started) * 1000)
            finally:
                gc.enable()
    return times, trips[0] // repeats


def bench_observe(
    url: str, n_queues: int, repeats: int, busy_lists: int = len(STEPS), workers: int = WORKERS
) -> dict[str, Any]:
    """Observation variants interleaved round by round, so load changes hit each alike."""
    client = redis.Redis.from_url(url)
    client.flushall()
    queues = [f"q{i}" for i in range(n_queues)]
    fill(client, queues, busy_lists)
    hire(client, queues, workers)
    lists = [name for q in queues for name in priority_lists(q, STEPS, SEP)]
    script = CountsReader(client, steps=STEPS, sep=SEP, use_script=True)
    one_script = CountsReader(client, steps=STEPS, sep=SEP, queues_per_script=n_queues)
    pipeline = CountsReader(client, steps=STEPS, sep=SEP, use_script=False)
    source = RedisSource(client, steps=STEPS, sep=SEP)
    no_census = RedisSource(client, steps=STEPS, sep=SEP)
    no_census.reader.holding = False
    now_ms = int(time.time() * 1000)
    check = script.read(queues, now_ms)
    # The pipeline cannot count held records (only the census script can): all else agrees.
    plain = pipeline.read(queues, now_ms)
    assert {q: c._replace(held_live=0) for q, c in check.items()} == plain, "paths disagree"
    backlog = 3 * busy_lists
    assert all(
        c.backlog == backlog and c.in_flight == 10 and c.published_at and c.delayed == 3
        for c in check.values()
    )
    assert sum(c.held_live for c in check.values()) == workers

    def raw_llen() -> object:
        pipe = client.pipeline(transaction=False)
        for name in lists:
            pipe.llen(name)
        return pipe.execute()

    variants = {
        "observe (Lua script)": lambda: script.read(queues, int(time.time() * 1000)),
        "observe (one script for all queues)": lambda: one_script.read(
            queues, int(time.time() * 1000)
        ),
        "observe + rates (RedisSource)": lambda: source.observe(queues),
        "observe + rates, no census (before)": lambda: no_census.observe(queues),
        "observe (pipeline fallback)": lambda: pipeline.read(queues, int(time.time() * 1000)),
        "raw pipelined LLEN": raw_llen,
    }
    samples: dict[str, list[float]] = {k: [] for k in variants}
    trips: dict[str, int] = {}
    for round_ in range(repeats):
        order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
        for name in order:
            times, per_call = timed(variants[name], 1)
            samples[name] += times
            trips[name] = per_call
    blocks = {name: longest_command_ms(client, fn) for name, fn in variants.items()}
    client.close()
    base = common.median(samples["raw pipelined LLEN"])
    return {
        name: {
            "p50_ms": round(common.median(times), 2),
            "min_ms": round(min(times), 2),
            "round_trips": trips[name],
            "ratio_to_raw_llen": round(common.ratio(common.median(times), base), 2),
            "longest_command_ms": blocks[name],
        }
        for name, times in samples.items()
    }


def bench_census(url: str, n_queues: int, repeats: int) -> dict[str, Any]:
    """The census alone over ``n_queues`` for each number of worker processes, and the
    controller's upkeep (promote with nothing due, sweep with nobody dead)."""
    client = redis.Redis.from_url(url)
    client.flushall()
    queues = [f"q{i}" for i in range(n_queues)]
    fill(client, queues, 1)
    out: dict[str, Any] = {}
    for workers in CENSUS_WORKERS:
        hire(client, queues, workers)
        times, trips = timed(lambda: census.read(client, queues), repeats)
        longest = longest_command_ms(client, lambda: census.read(client, queues))
        out[f"census, {workers} worker processes"] = {
            "p50_ms": round(common.median(times), 2),
            "min_ms": round(min(times), 2),
            "round_trips": trips,
            "longest_command_ms": longest,
        }
    upkeep = Upkeep(client)
    times, trips = timed(lambda: upkeep.run(queues), repeats)
    out["upkeep: promote + sweep"] = {
        "p50_ms": round(common.median(times), 2),
        "min_ms": round(min(times), 2),
        "round_trips": trips,
        "longest_command_ms": longest_command_ms(client, lambda: upkeep.run(queues)),
    }
    client.close()
    return out


def longest_command_ms(client: redis.Redis, fn: Callable[[], object], calls: int = 10) -> float:
    """The longest single command Redis ran over ``calls`` calls of ``fn`` (SLOWLOG, every
    command logged): Redis serves no other client while one command (a script) runs."""
    client.config_set("slowlog-log-slower-than", 0)
    client.config_set("slowlog-max-len", 100_000)
    try:
        client.slowlog_reset()
        for _ in range(calls):
            fn()
        entries = client.slowlog_get(100_000)
    finally:
        client.config_set("slowlog-log-slower-than", 10_000)
        client.slowlog_reset()
    return round(max(e["duration"] for e in entries) / 1000, 2)


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


PARTS = ("observe", "census", "decide", "react")


def report(result: dict[str, Any], n_queues: int) -> dict[str, bool]:
    """Print the parts that ran; the checks of those parts."""
    checks: dict[str, bool] = {}
    print(f"{n_queues} queues x {len(STEPS)} lists, machine {result['machine']}")
    scenarios = {
        "observe": f"every queue has waiting tasks ({n_queues:,} tails read)",
        "observe_stress": f"stress: every list holds tasks ({n_queues * len(STEPS):,} tails read)",
    }
    for part, scenario in scenarios.items():
        if part not in result:
            continue
        if part == "observe":
            polled = result[part]["observe + rates (RedisSource)"]
            checks[f"observe p50 < 20 ms, {scenario}"] = polled["p50_ms"] < OBSERVE_TARGET_MS
            checks[f"observe in 1 round trip, {scenario}"] = polled["round_trips"] == 1
        rows = [
            [
                k,
                f"{v['p50_ms']:.1f}",
                f"{v['min_ms']:.1f}",
                v["round_trips"],
                v["ratio_to_raw_llen"],
                f"{v['longest_command_ms']:.1f}",
            ]
            for k, v in result[part].items()
        ]
        print(f"\n{scenario}:")
        head = ["observation", "p50 ms", "min ms", "round trips", "x raw LLEN", "longest cmd ms"]
        print(common.table(head, rows))
    if "census" in result:
        rows = [
            [k, f"{v['p50_ms']:.1f}", f"{v['min_ms']:.1f}", v["round_trips"],
             f"{v['longest_command_ms']:.1f}"]
            for k, v in result["census"].items()
        ]  # fmt: skip
        print(f"\ndelivery census and upkeep over {n_queues} queues:")
        print(common.table(["call", "p50 ms", "min ms", "round trips", "longest cmd ms"], rows))
    if "decide" in result:
        checks["decide p50 < 5 ms"] = result["decide"]["p50_ms"] < DECIDE_TARGET_MS
        print(
            f"\ndecision pass over {n_queues} queues: p50 {result['decide']['p50_ms']:.2f} ms "
            f"(min {result['decide']['min_ms']:.2f})"
        )
    if "react" in result:
        react = result["react"]
        checks["reaction <= poll + 1 s"] = react["max_s"] <= POLL_S + REACTION_SLACK_S
        print(
            f"reaction, burst landed -> first scale-up (poll {POLL_S:g} s): p50 {react['p50_s']} "
            f"s, max {react['max_s']} s over {len(react['samples_s'])} bursts"
        )
    print(
        "\n"
        + common.table(["check", "met"], [[k, "yes" if v else "NO"] for k, v in checks.items()])
    )
    return checks


def main(argv: list[str] | None = None) -> int:
    common.exit_on_sigterm()
    p = argparse.ArgumentParser(prog="python -m bench.autoscaler_bench", description=__doc__)
    p.add_argument("--queues", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--bursts", type=int, default=5)
    p.add_argument(
        "--workers", type=int, default=WORKERS, help="worker processes with held records"
    )
    p.add_argument(
        "--only",
        choices=PARTS,
        action="append",
        help="run only this part (repeatable); writes bench/out/autoscaler-PART.json instead",
    )
    args = p.parse_args(argv if argv is not None else sys.argv[1:])
    parts = args.only or list(PARTS)
    result: dict[str, Any] = {"machine": common.machine(), "queues": args.queues}
    with common.workdir("autoscaler") as work, common.private_redis(work) as url:
        if "observe" in parts:
            result["observe"] = bench_observe(url, args.queues, args.repeats, 1, args.workers)
            result["observe_stress"] = bench_observe(
                url, args.queues, args.repeats, workers=args.workers
            )
        if "census" in parts:
            result["census"] = bench_census(url, args.queues, args.repeats)
        if "decide" in parts:
            result["decide"] = bench_decide(args.queues, args.repeats)
        if "react" in parts:
            result["react"] = bench_react(url, args.bursts)
    result["machine"]["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    checks = report(result, args.queues)
    result["checks"] = checks
    name = NAME if args.only is None else "-".join([NAME, *sorted(set(parts))])
    path = common.write_json(name, result)
    print(f"\nwrote {path}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
