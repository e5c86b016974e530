"""I/O-bound work: a gevent worker (concurrency 500) against a prefork worker (concurrency 2),
and against plain Celery's gevent worker (concurrency 500, Celery's defaults).

2,000 ``shoal.io_wait(0.2)`` tasks each wait 200 ms. The shoal workers are ``shoal worker`` with
production defaults; only the pool differs. The tasks are published first (copies of a stock
Celery client's message, results ignored), then the worker is timed from the first message it
takes off the queue until the queue is empty and nothing is held unacknowledged. Two verdicts:
gevent at least 50x faster than prefork, and shoal's gevent worker within 1.05x of plain
Celery's (drain time shoal / plain).

By default the prefork worker drains all 2,000 tasks once (about 200 s: 2,000 x 0.2 s / 2) and
the gevent worker three times, interleaved G P G G. With ``--prefork-tasks N`` (N < --tasks)
the prefork worker drains only N tasks and its time is extrapolated linearly; the output and
the JSON then say so (``prefork_extrapolated``).

    python -m bench.gevent_io [--tasks N] [--gevent-rounds R] [--prefork-rounds R]
                              [--prefork-tasks N]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from bench import common, drain
from tests.support.procs import worker_argv

NAME = "gevent_io"
QUEUE = "bench-io"
WAIT_S = 0.2
THRESHOLD = 50.0
PLAIN_THRESHOLD = 1.05
"""shoal gevent drain time / plain Celery gevent drain time, at most."""
GEVENT_CONCURRENCY = 500
PREFORK_CONCURRENCY = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.gevent_io", description=__doc__)
    p.add_argument("--tasks", type=int, default=2_000)
    p.add_argument("--gevent-rounds", type=int, default=3)
    p.add_argument("--prefork-rounds", type=int, default=1)
    p.add_argument("--plain-rounds", type=int, default=3, help="plain Celery's gevent worker")
    p.add_argument(
        "--prefork-tasks",
        type=int,
        default=None,
        help="drain only this many with prefork and extrapolate linearly (said in the output)",
    )
    p.add_argument("--timeout-s", type=float, default=900.0, help="per round")
    args = p.parse_args(argv)
    if args.prefork_tasks is None or args.prefork_tasks > args.tasks:
        args.prefork_tasks = args.tasks
    return args


def schedule(gevent_rounds: int, prefork_rounds: int, plain_rounds: int = 0) -> list[str]:
    """Interleaved order: G [C] P G [C] P ... then the remaining rounds of the pools with more
    (C: plain Celery's gevent worker)."""
    order: list[str] = []
    for i in range(max(gevent_rounds, prefork_rounds, plain_rounds)):
        if i < gevent_rounds:
            order.append("gevent")
        if i < plain_rounds:
            order.append("plain-gevent")
        if i < prefork_rounds:
            order.append("prefork")
    return order


def one_round(
    pool: str,
    url: str,
    work: Path,
    index: int,
    template: dict[str, Any],
    count: int,
    timeout_s: float,
) -> dict[str, Any]:
    if pool == "plain-gevent":
        argv = [sys.executable, "-m", "celery", "-A", "bench.plain_app", "worker", "-P", "gevent"]
        argv += ["-c", str(GEVENT_CONCURRENCY), "-Q", QUEUE]
        env = common.child_env(BENCH_BROKER_URL=url, BENCH_PLAIN_MODE="default")
    else:
        concurrency = GEVENT_CONCURRENCY if pool == "gevent" else PREFORK_CONCURRENCY
        argv = worker_argv(QUEUE, pool, concurrency)
        env = drain.shoal_worker_env(url, work, f"bench-{pool}-{index}")
    return drain.attempt_round(
        url,
        argv=argv,
        env=env,
        queue=QUEUE,
        template=template,
        count=count,
        log=work / f"{pool}-{index}.log",
        timeout_s=timeout_s,
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {"gevent": [], "plain-gevent": [], "prefork": []}
    machine = common.machine()
    with common.workdir(NAME) as work, common.private_redis(work) as url:
        template = drain.message_template(url, QUEUE, "shoal.io_wait", [WAIT_S])
        order = schedule(args.gevent_rounds, args.prefork_rounds, args.plain_rounds)
        for index, pool in enumerate(order):
            count = args.prefork_tasks if pool == "prefork" else args.tasks
            result = one_round(pool, url, work, index, template, count, args.timeout_s)
            result["round"] = len(results[pool]) + 1
            results[pool].append(result)
            if "failed" in result:
                continue
            # Seconds to drain the full --tasks (measured, or extrapolated linearly).
            result["drain_full_s"] = round(result["drain_s"] * args.tasks / count, 3)
            print(
                f"  {pool:<8} round {result['round']}: {count} tasks drained in "
                f"{result['drain_s']:.2f}s ({result['tasks_per_s']:.1f} tasks/s, "
                f"start-up {result['startup_s']:.2f}s)",
                flush=True,
            )
    gevent_s = common.median([r["drain_full_s"] for r in drain.succeeded(results["gevent"])])
    prefork_s = common.median([r["drain_full_s"] for r in drain.succeeded(results["prefork"])])
    plain_s = common.median([r["drain_full_s"] for r in drain.succeeded(results["plain-gevent"])])
    return {
        "benchmark": NAME,
        "machine": machine,
        "tasks": args.tasks,
        "wait_s": WAIT_S,
        "gevent_concurrency": GEVENT_CONCURRENCY,
        "prefork_concurrency": PREFORK_CONCURRENCY,
        "prefork_tasks": args.prefork_tasks,
        "prefork_extrapolated": args.prefork_tasks < args.tasks,
        "ideal_s": {
            "gevent": math.ceil(args.tasks / GEVENT_CONCURRENCY) * WAIT_S,
            "prefork": args.tasks * WAIT_S / PREFORK_CONCURRENCY,
        },
        "metric": "seconds from the first message taken off the queue to the last ack",
        "results": results,
        "summary": {
            "gevent_median_s": round(gevent_s, 3),
            "prefork_median_s": round(prefork_s, 3),
            "plain-gevent_median_s": round(plain_s, 3),
            "speedup": round(common.ratio(prefork_s, gevent_s), 1),
            "threshold": THRESHOLD,
            "shoal_to_plain": round(common.ratio(gevent_s, plain_s), 3),
            "plain_threshold": PLAIN_THRESHOLD,
        },
    }


def report(data: dict[str, Any]) -> str:
    rows = []
    for pool in ("gevent", "plain-gevent", "prefork"):
        results = data["results"][pool]
        if not results:
            continue
        median = data["summary"][f"{pool}_median_s"]
        each = ", ".join("FAILED" if "failed" in r else f"{r['drain_full_s']:.2f}" for r in results)
        note = ""
        if pool == "prefork" and data["prefork_extrapolated"]:
            note = f"EXTRAPOLATED from {data['prefork_tasks']} tasks"
        ideal = data["ideal_s"]["prefork" if pool == "prefork" else "gevent"]
        rows.append([pool, f"{median:.2f}", each, f"{ideal:.1f}", note])
    return common.table(["pool", "median s", "rounds (s)", "ideal s", "note"], rows)


def main(argv: list[str] | None = None) -> int:
    common.exit_on_sigterm()
    args = parse_args(argv)
    print(
        f"{NAME}: {args.tasks} x shoal.io_wait({WAIT_S}), gevent -c {GEVENT_CONCURRENCY} "
        f"({args.gevent_rounds} rounds) vs prefork -c {PREFORK_CONCURRENCY} "
        f"({args.prefork_rounds} rounds of {args.prefork_tasks} tasks)",
        flush=True,
    )
    data, path = drain.timed_run(NAME, run, args)
    print(report(data))
    speedup = data["summary"]["speedup"]
    word = "PASS" if speedup >= THRESHOLD else "FAIL"  # NaN (a pool never finished) fails
    extra = " (prefork extrapolated linearly)" if data["prefork_extrapolated"] else ""
    print(f"\n{word}: gevent drains {speedup:.1f}x faster than prefork{extra}", end="")
    print(f" (threshold {THRESHOLD:.0f}x)")
    to_plain = data["summary"]["shoal_to_plain"]
    if args.plain_rounds:
        plain_word = "PASS" if to_plain <= PLAIN_THRESHOLD else "FAIL"
        print(
            f"{plain_word}: shoal gevent / plain Celery gevent drain time = {to_plain:.3f} "
            f"(at most {PLAIN_THRESHOLD})"
        )
        word = word if plain_word == "PASS" else "FAIL"
    print(f"written: {path.relative_to(common.ROOT)}")
    bad = drain.report_problems(NAME, data["results"])
    if bad:
        for pool, rounds in data["results"].items():
            for r in rounds:
                if "failed" in r:
                    print(f"  {pool} round {r['round']}: {r['failed']}")
    return 0 if word == "PASS" and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
