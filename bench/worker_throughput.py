"""No-op throughput: ``shoal worker --pool prefork --concurrency 2`` against plain Celery.

20,000 ``shoal.noop`` tasks are published first (copies of a stock Celery 5 client's message,
results ignored, pipelined LPUSH), then one worker is started and timed from the first message
it takes off the queue until the queue is empty and nothing is held unacknowledged. Variants run
interleaved, round by round (order reversed every other round), on one private redis-server.

The 1.0 threshold is judged on ``shoal`` / ``plain`` (Celery's defaults, as issue 15 asks:
a plain ``celery worker -P prefork -c 2``; shoal with its reliable fetch at least as fast).
``plain-matched`` runs shoal's Celery settings with stock Celery code, which separates the
cost of shoal's configuration (acks late, prefetch 1, INFO logs) from the cost of shoal's own
code (consumer, task base, transport, hooks).

    python -m bench.worker_throughput [--tasks N] [--rounds R] [--variants a,b,...]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import common, drain
from tests.support.procs import worker_argv

NAME = "worker_throughput"
QUEUE = "bench"
THRESHOLD = 1.0
TARGET = 1.1
BASELINE = "plain"


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    shoal: bool
    env: dict[str, str] = field(default_factory=dict)
    plain_args: tuple[str, ...] = ()


VARIANTS = {
    v.name: v
    for v in (
        Variant(
            "shoal",
            "shoal worker, production defaults (acks late, prefetch 1, INFO log, metrics+health)",
            shoal=True,
        ),
        Variant(
            "plain",
            "celery worker, Celery defaults (acks early, prefetch 4, WARNING log, no backend)",
            shoal=False,
            env={"BENCH_PLAIN_MODE": "default"},
        ),
        Variant(
            "plain-matched",
            "celery worker, shoal's Celery config, stock Celery code (no hooks/consumer/transport)",
            shoal=False,
            env={"BENCH_PLAIN_MODE": "matched"},
            plain_args=("--without-gossip", "--without-mingle", "--loglevel", "INFO"),
        ),
        Variant(
            "shoal-prefetch4",
            "shoal worker with SHOAL_PREFETCH_MULTIPLIER=4",
            shoal=True,
            env={"SHOAL_PREFETCH_MULTIPLIER": "4"},
        ),
        Variant(
            "shoal-no-endpoints",
            "shoal worker with SHOAL_METRICS_PORT=0 SHOAL_HEALTH_PORT=0",
            shoal=True,
            env={"SHOAL_METRICS_PORT": "0", "SHOAL_HEALTH_PORT": "0"},
        ),
        Variant(
            "shoal-info",
            "shoal worker with SHOAL_LOG_LEVEL=INFO (a log line per task received and done)",
            shoal=True,
            env={"SHOAL_LOG_LEVEL": "INFO"},
        ),
    )
}
DEFAULT_VARIANTS = ("shoal", "plain", "plain-matched")


def command(
    variant: Variant, url: str, work: Path, round_no: int
) -> tuple[list[str], dict[str, str]]:
    if variant.shoal:
        argv = worker_argv(QUEUE, "prefork", 2)
        worker_id = f"bench-{variant.name}-{round_no}"
        return argv, drain.shoal_worker_env(url, work, worker_id, **variant.env)
    argv = [sys.executable, "-m", "celery", "-A", "bench.plain_app", "worker"]
    argv += ["-P", "prefork", "-c", "2", "-Q", QUEUE, *variant.plain_args]
    return argv, common.child_env(BENCH_BROKER_URL=url, **variant.env)


def summarize(rounds: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for name, all_results in rounds.items():
        results = drain.succeeded(all_results)
        summary[name] = {
            "median_tasks_per_s": round(common.median([r["tasks_per_s"] for r in results]), 1),
            "median_wall_tasks_per_s": round(
                common.median([r["wall_tasks_per_s"] for r in results]), 1
            ),
            "median_publish_s": round(common.median([r["publish_s"] for r in results]), 3),
            "median_cpu_ms_per_task": round(
                common.median([r["cpu_ms_per_task"] for r in results]), 3
            ),
            "failed_rounds": len(all_results) - len(results),
        }
    base = summary.get(BASELINE, {})
    base_rate = _number(base.get("median_tasks_per_s"))
    base_cpu = _number(base.get("median_cpu_ms_per_task"))
    for values in summary.values():
        values["ratio_to_plain"] = (
            round(common.ratio(values["median_tasks_per_s"], base_rate), 3) if base_rate else None
        )
        # plain's CPU per task / this variant's: above 1 means cheaper than plain.
        values["cpu_ratio_to_plain"] = (
            round(common.ratio(base_cpu, values["median_cpu_ms_per_task"]), 3) if base_cpu else None
        )
    return summary


def _number(value: Any) -> float | None:
    """``value`` unless it is missing or NaN (every round of that variant failed)."""
    return None if value is None or value != value else float(value)


def report(rounds: dict[str, list[dict[str, Any]]], summary: dict[str, dict[str, Any]]) -> str:
    count = max(len(r) for r in rounds.values())
    headers = ["variant", "median/s", *[f"round {i + 1}" for i in range(count)], "ratio"]
    headers += ["CPU ms/task", "CPU ratio", "wall/s", "problems"]
    rows = []
    for name, results in rounds.items():
        s = summary[name]
        each = [_cell(r) for r in results] + [""] * (count - len(results))
        ratio = s["ratio_to_plain"]
        rows.append(
            [
                name,
                f"{s['median_tasks_per_s']:.0f}",
                *each,
                "-" if ratio is None else f"{ratio:.3f}",
                f"{s['median_cpu_ms_per_task']:.3f}",
                "-" if s["cpu_ratio_to_plain"] is None else f"{s['cpu_ratio_to_plain']:.3f}",
                f"{s['median_wall_tasks_per_s']:.0f}",
                drain.problems({name: results}),
            ]
        )
    return common.table(headers, rows)


def _cell(result: dict[str, Any]) -> str:
    return "FAILED" if "failed" in result else f"{result['tasks_per_s']:.0f}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.worker_throughput", description=__doc__)
    p.add_argument("--tasks", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma separated, from: {', '.join(VARIANTS)}",
    )
    p.add_argument("--timeout-s", type=float, default=900.0, help="per round")
    args = p.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in args.variants}
    machine = common.machine()
    with common.workdir(NAME) as work, common.private_redis(work) as url:
        template = drain.message_template(url, QUEUE, "shoal.noop", [])
        for round_no in range(args.rounds):
            order = args.variants if round_no % 2 == 0 else list(reversed(args.variants))
            for name in order:
                argv, env = command(VARIANTS[name], url, work, round_no)
                result = drain.attempt_round(
                    url,
                    argv=argv,
                    env=env,
                    queue=QUEUE,
                    template=template,
                    count=args.tasks,
                    log=work / f"{name}-{round_no}.log",
                    timeout_s=args.timeout_s,
                )
                result["round"] = round_no + 1
                rounds[name].append(result)
                if "failed" not in result:
                    print(
                        f"  round {round_no + 1} {name:<18} {result['tasks_per_s']:>8.0f} tasks/s"
                        f" (drain {result['drain_s']:.2f}s, {result['cpu_ms_per_task']:.3f} CPU ms"
                        f"/task, start-up {result['startup_s']:.2f}s,"
                        f" publish {result['publish_s']:.2f}s)",
                        flush=True,
                    )
    summary = summarize(rounds)
    return {
        "benchmark": NAME,
        "machine": machine,
        "tasks": args.tasks,
        "rounds_per_variant": args.rounds,
        "variants": {n: VARIANTS[n].description for n in args.variants},
        "threshold": {"ratio": THRESHOLD, "target": TARGET, "judged_on": f"shoal/{BASELINE}"},
        "metric": "tasks/s from the first message taken off the queue to the last ack",
        "cpu_metric": "CPU ms per task of the worker's process group over the same interval",
        "results": rounds,
        "summary": summary,
    }


def main(argv: list[str] | None = None) -> int:
    common.exit_on_sigterm()
    args = parse_args(argv)
    print(
        f"{NAME}: {args.tasks} x shoal.noop, prefork -c 2, {args.rounds} rounds, "
        f"variants {', '.join(args.variants)}",
        flush=True,
    )
    data, path = drain.timed_run(NAME, run, args)
    print(report(data["results"], data["summary"]))
    verdict = verdict_line(data)
    print(f"\n{verdict}\nwritten: {path.relative_to(common.ROOT)}")
    bad = drain.report_problems(NAME, data["results"])
    return 0 if verdict.startswith("PASS") and not bad else 1


def verdict_line(data: dict[str, Any]) -> str:
    summary = data["summary"]
    if "shoal" not in summary or BASELINE not in summary:
        return "SKIP: the verdict needs both the 'shoal' and the 'plain' variants"
    value = summary["shoal"]["ratio_to_plain"]
    if value is None or value != value:
        return "FAIL: no ratio (every round of 'shoal' or of 'plain' failed)"
    word = "PASS" if value >= THRESHOLD else "FAIL"
    cpu = summary["shoal"]["cpu_ratio_to_plain"]
    cpu_text = "" if cpu is None else f"; CPU per task plain/shoal = {cpu:.3f}"
    return f"{word}: shoal/plain = {value:.3f} (threshold {THRESHOLD}, aim {TARGET}){cpu_text}"


if __name__ == "__main__":
    sys.exit(main())
