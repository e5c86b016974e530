"""``shoal simulate``: replay a trace against a values file, with shoal's policy or a baseline.

    shoal simulate --values VALUES.yaml --trace TRACE.csv [--policy shoal|keda|static:N]...
                   [--plot out.png] [--json] [--jobs N]

``--policy`` can be given several times to compare policies side by side on the same trace.
``--jobs`` splits the queues over processes (default 1); the result is the same. It pays when
many queues must be asked at most polls (latency targets, or busy queues whose work keeps
crossing a replica's worth); otherwise every process pays the per-step cost for little gain.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

from scheduler.autoscaler.config import ConfigError
from scheduler.simulate.binned import Trace, load
from scheduler.simulate.controllers import Controller, QueueSpec, StaticController
from scheduler.simulate.engine import RunResult, SimSettings
from scheduler.simulate.keda import KedaController
from scheduler.simulate.parallel import simulate_parallel
from scheduler.simulate.report import build_report, format_table
from scheduler.simulate.service import ServiceKind
from scheduler.simulate.shoal_controller import ShoalController
from scheduler.simulate.trace import TraceError
from scheduler.simulate.values import SimValues, load_values


class UsageError(ValueError):
    pass


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="shoal simulate",
        description="Replay a trace (CSV time_s,queue,tasks,mean_service_s[,delay_s]) against a "
        "values file with the autoscaler's own policy or a baseline.",
    )
    p.add_argument("--values", required=True, type=Path, help="Helm values or autoscaler config")
    p.add_argument(
        "--trace", required=True, type=Path, help="CSV time_s,queue,tasks,mean_service_s[,delay_s]"
    )
    p.add_argument(
        "--policy",
        action="append",
        help="shoal (default), keda, or static:N; repeat to compare",
    )
    p.add_argument("--plot", type=Path, help="write a PNG of backlog, replicas and wait")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    d = SimSettings()
    p.add_argument(
        "--start-delay-s",
        type=float,
        default=d.start_delay_s,
        help=f"scale-up decision to pod consuming (default {d.start_delay_s:g})",
    )
    p.add_argument(
        "--stop-delay-s",
        type=float,
        default=d.stop_delay_s,
        help=f"scale-in decision to an idle pod gone (default {d.stop_delay_s:g})",
    )
    p.add_argument(
        "--service",
        choices=[k.value for k in ServiceKind],
        default=d.service.value,
        help="service-time model (default exponential)",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the exponential model")
    p.add_argument("--step-s", type=float, default=d.step_s, help="simulated seconds per step")
    p.add_argument(
        "--priority-fraction",
        type=float,
        default=d.priority_fraction,
        help="share of tasks published with priority 3-9 (invisible to keda)",
    )
    p.add_argument(
        "--tail-s", type=float, default=d.tail_s, help="quiet time simulated after the last arrival"
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="processes to split the queues over (default 1; the result is the same for any)",
    )
    return p


def settings_from(args: argparse.Namespace) -> SimSettings:
    for name in ("start_delay_s", "stop_delay_s", "tail_s"):
        if getattr(args, name) < 0:
            raise UsageError(f"--{name.replace('_', '-')}: must be >= 0")
    if args.step_s <= 0:
        raise UsageError("--step-s: must be > 0")
    if not 0.0 <= args.priority_fraction <= 1.0:
        raise UsageError("--priority-fraction: must be within 0..1")
    if args.seed < 0:
        raise UsageError("--seed: must be >= 0")
    if args.jobs < 1:
        raise UsageError("--jobs: must be >= 1")
    return SimSettings(
        step_s=args.step_s,
        start_delay_s=args.start_delay_s,
        stop_delay_s=args.stop_delay_s,
        service=ServiceKind(args.service),
        seed=args.seed,
        priority_fraction=args.priority_fraction,
        tail_s=args.tail_s,
    )


def make_controller(name: str, values: SimValues, specs: list[QueueSpec]) -> Controller:
    if name == "shoal":
        by_name = {p.name: p for p in values.policies}
        policies = [by_name[s.name] for s in specs]
        return ShoalController(
            policies,
            poll_interval_s=values.poll_interval_s,
            start_replicas=[s.start_replicas for s in specs],
        )
    if name == "keda":
        return KedaController(specs)
    if name.startswith("static:"):
        count = name.removeprefix("static:")
        if not count.isdigit():
            raise UsageError(f"--policy {name}: expected static:N with N a whole number")
        return StaticController(specs, int(count))
    raise UsageError(f"--policy {name}: expected shoal, keda or static:N")


def prepare(
    values_path: Path, trace_path: Path, settings: SimSettings
) -> tuple[SimValues, Trace, list[QueueSpec]]:
    values = load_values(values_path)
    names = [p.name for p in values.policies]
    trace = load(trace_path, step_s=settings.step_s, tail_s=settings.tail_s)
    unknown = [q for q in trace.queues if q not in names]
    if unknown:
        raise UsageError(
            f"{trace_path}: queue {unknown[0]!r} is not in {values_path} "
            f"(queues: {', '.join(names)})"
        )
    return values, trace, values.specs(list(trace.queues))


def run_policies(
    policies: list[str],
    values: SimValues,
    trace: Trace,
    specs: list[QueueSpec],
    settings: SimSettings,
    *,
    jobs: int = 1,
) -> list[RunResult]:
    for name in policies:
        make_controller(name, values, specs)  # a bad --policy stops here, before any run
    return [
        simulate_parallel(trace, specs, partial(make_controller, name, values), settings, jobs)
        for name in policies
    ]


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        settings = settings_from(args)
        values, trace, specs = prepare(args.values, args.trace, settings)
        results = run_policies(
            args.policy or ["shoal"], values, trace, specs, settings, jobs=args.jobs
        )
    except (UsageError, ConfigError, TraceError) as exc:
        print(f"shoal simulate: {exc}", file=sys.stderr)
        return 2
    reports = [build_report(r) for r in results]
    if args.json:
        payload = {
            "values": str(args.values),
            "trace": str(args.trace),
            "poll_interval_s": values.poll_interval_s,
            "settings": {**vars(settings), "service": settings.service.value},
            "runs": [r.to_json() for r in reports],
        }
        print(json.dumps(payload, indent=2))
    else:
        print("\n\n".join(format_table(r) for r in reports))
    if args.plot:
        from scheduler.simulate.plot import plot_runs

        plot_runs(results, args.plot, title=f"{args.trace.name} against {args.values.name}")
        if not args.json:
            print(f"\nplot written to {args.plot}")
    return 0
