"""No-op throughput of a team's own app on a shoal worker against the platform's built-in tasks.

``shoal worker --app bench.team_app`` (a plain Celery app: its tasks get the platform task layer
composed with their own class, its settings laid under the platform's) against ``shoal worker``
on the built-in ``shoal.noop``: same pool (prefork, 2 processes), same production settings, one
private redis-server, the variants interleaved round by round (order reversed every other
round). Each round publishes N copies of a stock client's message and times one worker from the
first message it takes to the last ack (:mod:`bench.drain`).

The verdict is the median of ``app`` over the median of ``builtin`` (at least 0.98); the spread
is the ratio of each round's pair.

    python -m bench.app_throughput [--tasks N] [--rounds R]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench import common, drain
from tests.support.procs import worker_argv

NAME = "app_throughput"
QUEUE = "bench"
THRESHOLD = 0.98
VARIANTS = {
    "builtin": ("shoal worker on shoal.noop (the platform's own app)", "shoal.noop", ()),
    "app": (
        "shoal worker --app bench.team_app on team.noop (a team's plain app)",
        "team.noop",
        ("--app", "bench.team_app"),
    ),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.app_throughput", description=__doc__)
    p.add_argument("--tasks", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--timeout-s", type=float, default=900.0, help="per round")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    machine = common.machine()
    with common.workdir(NAME) as work, common.private_redis(work) as url:
        templates = {n: drain.message_template(url, QUEUE, v[1], []) for n, v in VARIANTS.items()}
        for round_no in range(args.rounds):
            order = list(VARIANTS) if round_no % 2 == 0 else list(reversed(VARIANTS))
            for name in order:
                argv = worker_argv(QUEUE, "prefork", 2, *VARIANTS[name][2])
                env = drain.shoal_worker_env(url, work, f"bench-{name}-{round_no}")
                result = drain.attempt_round(
                    url,
                    argv=argv,
                    env=env,
                    queue=QUEUE,
                    template=templates[name],
                    count=args.tasks,
                    log=work / f"{name}-{round_no}.log",
                    timeout_s=args.timeout_s,
                )
                result["round"] = round_no + 1
                rounds[name].append(result)
                if "failed" not in result:
                    print(
                        f"  round {round_no + 1} {name:<8} {result['tasks_per_s']:>8.0f} tasks/s"
                        f" ({result['cpu_ms_per_task']:.3f} CPU ms/task,"
                        f" start-up {result['startup_s']:.2f}s)",
                        flush=True,
                    )
    return {
        "benchmark": NAME,
        "machine": machine,
        "tasks": args.tasks,
        "rounds_per_variant": args.rounds,
        "variants": {n: v[0] for n, v in VARIANTS.items()},
        "threshold": {"ratio": THRESHOLD, "judged_on": "median app / median builtin"},
        "metric": "tasks/s from the first message taken off the queue to the last ack",
        "results": rounds,
        "summary": summarize(rounds),
    }


def summarize(rounds: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    medians = {
        name: common.median([r["tasks_per_s"] for r in drain.succeeded(results)])
        for name, results in rounds.items()
    }
    cpu = {
        name: common.median([r["cpu_ms_per_task"] for r in drain.succeeded(results)])
        for name, results in rounds.items()
    }
    pairs = [
        common.ratio(a["tasks_per_s"], b["tasks_per_s"])
        for a, b in zip(rounds["app"], rounds["builtin"], strict=True)
        if "failed" not in a and "failed" not in b
    ]
    return {
        "median_tasks_per_s": {n: round(v, 1) for n, v in medians.items()},
        "median_cpu_ms_per_task": {n: round(v, 3) for n, v in cpu.items()},
        "ratio": round(common.ratio(medians["app"], medians["builtin"]), 3),
        "round_ratios": [round(r, 3) for r in pairs],
        "round_ratio_min": round(min(pairs), 3) if pairs else None,
        "round_ratio_max": round(max(pairs), 3) if pairs else None,
    }


def report(data: dict[str, Any]) -> str:
    results, summary = data["results"], data["summary"]
    count = max(len(r) for r in results.values())
    headers = ["variant", "median/s", *[f"round {i + 1}" for i in range(count)], "CPU ms/task"]
    rows = [
        [
            name,
            f"{summary['median_tasks_per_s'][name]:.0f}",
            *["FAILED" if "failed" in r else f"{r['tasks_per_s']:.0f}" for r in rounds],
            f"{summary['median_cpu_ms_per_task'][name]:.3f}",
        ]
        for name, rounds in results.items()
    ]
    return common.table(headers, rows)


def verdict_line(data: dict[str, Any]) -> str:
    s = data["summary"]
    value = s["ratio"]
    if value != value:
        return "FAIL: no ratio (every round of a variant failed)"
    word = "PASS" if value >= THRESHOLD else "FAIL"
    spread = f"rounds {s['round_ratio_min']:.3f}..{s['round_ratio_max']:.3f}"
    return f"{word}: app/builtin = {value:.3f} (threshold {THRESHOLD}; {spread})"


def main(argv: list[str] | None = None) -> int:
    common.exit_on_sigterm()
    args = parse_args(argv)
    print(f"{NAME}: {args.tasks} no-op tasks, prefork -c 2, {args.rounds} rounds", flush=True)
    data, path = drain.timed_run(NAME, run, args)
    print(report(data))
    verdict = verdict_line(data)
    print(f"\n{verdict}\nwritten: {path.relative_to(common.ROOT)}")
    bad = drain.report_problems(NAME, data["results"])
    return 0 if verdict.startswith("PASS") and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
