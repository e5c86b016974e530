"""``shoal simulate`` benchmarks: speed, and shoal's policy against KEDA on the shared traces.

    python -m bench.simulate_bench [--traces DIR] [--skip-speed] [--skip-headline] [--rounds 3]

Speed: a synthetic day (86,400 one-second steps) of 50 queues (20 diurnal I/O queues, 20
spiky CPU queues, 10 bursty ones), simulated with ``static:2`` (the engine alone), ``keda`` and
``shoal`` (the autoscaler's own ``decide`` for every queue at every 2 s poll), each on one
process and split over one process per core (``simulate_parallel``); the median of
``--rounds`` runs of simulating plus the report (one run when it takes longer than 60 s).
The target is 5 s.

Headline: on each trace of ``../shared/traces`` (or ``--traces``), p95 queue wait and
replica-seconds of ``keda`` (KEDA's defaults), of ``shoal`` with KEDA's targets and windows
(examples/values-keda-defaults.yaml), of ``shoal`` tuned (examples/values.yaml), and of ``keda``
given the tuned windows (60 s scale-down stabilization, 120 s cooldown) for reference.
Writes ``bench/out/simulate.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import common
from scheduler.autoscaler.config import queue_policies_from_values
from scheduler.simulate.binned import Trace, load
from scheduler.simulate.controllers import Controller, QueueSpec, StaticController
from scheduler.simulate.engine import SimSettings, simulate
from scheduler.simulate.keda import KedaController, KedaSettings
from scheduler.simulate.parallel import ControllerFactory, simulate_parallel
from scheduler.simulate.report import build_report
from scheduler.simulate.shoal_controller import ShoalController
from scheduler.simulate.values import SimValues, load_values, reserved_per_replica

EXAMPLES = common.ROOT / "scheduler" / "simulate" / "examples"
TRACES = common.ROOT.parent / "shared" / "traces"
DAY_S = 86_400
SPEED_TARGET_S = 5.0


def fleet_trace(queues: int = 50, *, seed: int = 1) -> tuple[Trace, list[dict[str, Any]]]:
    """A day of ``queues`` queues: diurnal I/O, spiky CPU and bursty queues (Poisson arrivals)."""
    rng = np.random.default_rng(seed)
    t = np.arange(DAY_S)
    arrivals = np.zeros((DAY_S, queues), dtype=np.int64)
    service = np.zeros((DAY_S, queues))
    entries: list[dict[str, Any]] = []
    for q in range(queues):
        kind = ("diurnal", "diurnal", "spiky", "spiky", "bursty")[q % 5]
        phase = rng.uniform(0, 2 * np.pi)
        if kind == "diurnal":
            rate = rng.uniform(2, 20) * (1.2 + np.sin(2 * np.pi * t / DAY_S + phase))
            mean_s, pool, concurrency, target = 0.3, "gevent", 20, 20
        elif kind == "spiky":
            period = int(rng.integers(600, 1800))
            rate = np.where((t % period) < 30, rng.uniform(3, 8), 0.05)
            mean_s, pool, concurrency, target = 3.0, "prefork", 2, 5
        else:
            rate = np.zeros(DAY_S)
            for start in rng.integers(0, DAY_S - 10, size=6):
                rate[start] = rng.integers(200, 3000)
            mean_s, pool, concurrency, target = 0.5, "prefork", 4, 10
        arrivals[:, q] = rng.poisson(rate)
        service[:, q] = mean_s
        entries.append(
            {
                "name": f"{kind}-{q:02d}",
                "pool": pool,
                "concurrency": concurrency,
                "autoscaling": {
                    "minReplicas": 0,
                    "maxReplicas": 20,
                    "targetBacklogPerReplica": target,
                    "cooldownSeconds": 120,
                    "scaleDown": {"stabilizationWindowSeconds": 60},
                },
            }
        )
    tail = 900
    arrivals = np.vstack([arrivals, np.zeros((tail, queues), dtype=np.int64)])
    service = np.vstack([service, np.repeat(service[-1:], tail, axis=0)])
    names = tuple(e["name"] for e in entries)
    trace = Trace(names, 1.0, arrivals, service, float(DAY_S - 1))
    return trace, entries


def _timed(
    trace: Trace, specs: list[QueueSpec], make: ControllerFactory, jobs: int, rounds: int
) -> dict[str, Any]:
    """Median over ``rounds`` of simulating (on ``jobs`` processes) plus the report."""
    sim: list[float] = []
    report: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = simulate_parallel(trace, specs, make, SimSettings(), jobs)
        middle = time.perf_counter()
        build_report(result)
        sim.append(middle - start)
        report.append(time.perf_counter() - middle)
        if sim[-1] + report[-1] > 60:
            break
    total = [a + b for a, b in zip(sim, report, strict=True)]
    return {
        "jobs": jobs,
        "median_s": round(common.median(total), 2),
        "simulate_s": round(common.median(sim), 2),
        "report_s": round(common.median(report), 2),
        "runs": len(total),
    }


def speed(rounds: int) -> dict[str, Any]:
    trace, entries = fleet_trace()
    policies = list(queue_policies_from_values({"queues": entries}))
    by_name = {p.name: p for p in policies}
    specs = [
        QueueSpec(p.name, str(p.pool), p.concurrency, p.min_replicas, p.max_replicas,
                  p.target_latency_s, reserved_per_replica(str(p.pool), p.concurrency, 1))
        for p in policies
    ]  # fmt: skip
    cores = os.cpu_count() or 1
    out: dict[str, Any] = {
        "queues": len(specs),
        "steps": trace.steps,
        "tasks": int(trace.arrivals.sum()),
        "target_s": SPEED_TARGET_S,
        "cores": cores,
    }
    in_process: list[ShoalController] = []

    def shoal(queues: list[QueueSpec]) -> ShoalController:
        controller = ShoalController([by_name[q.name] for q in queues], poll_interval_s=2.0)
        in_process.append(controller)  # forked groups' controllers stay in their children
        return controller

    makers: dict[str, ControllerFactory] = {
        "static:2": lambda queues: StaticController(queues, 2),
        "keda": KedaController,
        "shoal": shoal,
    }
    for name, make in makers.items():
        out[name] = [_timed(trace, specs, make, jobs, rounds) for jobs in sorted({1, cores})]
    out["queue_polls"] = len(specs) * (trace.steps // 2)
    out["decide_calls"] = in_process[-1].asked  # the rest fell inside the policy's holds
    return out


def speed_lines(s: dict[str, Any]) -> list[str]:
    rows = [
        [name, r["jobs"], r["median_s"], r["simulate_s"], r["report_s"], r["runs"]]
        for name in ("static:2", "keda", "shoal")
        for r in s[name]
    ]
    best = min(r["median_s"] for r in s["shoal"])
    verdict = "met" if best <= s["target_s"] else "NOT met"
    return [
        f"{s['queues']} queues x {s['steps']} steps, {s['tasks']} tasks, {s['cores']} cores:",
        common.table(["policy", "jobs", "median s", "simulate s", "report s", "runs"], rows),
        f"shoal: {s['queue_polls']} queue-polls, {s['decide_calls']} of them asked of decide "
        "(the others inside the holds the policy gave)",
        f"target {s['target_s']:g} s for shoal: {verdict} (best median {best:g} s)",
    ]


def _run(trace: Trace, specs: list[QueueSpec], controller: Controller) -> dict[str, Any]:
    report = build_report(simulate(trace, specs, controller, SimSettings()))
    total = report.total
    return {
        "p95_wait_s": total.p95_wait_s,
        "p50_wait_s": total.p50_wait_s,
        "max_wait_s": total.max_wait_s,
        "replica_seconds": total.replica_seconds,
        "peak_replicas": total.peak_replicas,
        "scale_events": total.scale_events,
        "tasks": total.tasks,
        "completed": total.completed,
    }


def _shoal(values: SimValues, specs: list[QueueSpec]) -> ShoalController:
    by_name = {p.name: p for p in values.policies}
    return ShoalController([by_name[s.name] for s in specs], poll_interval_s=values.poll_interval_s)


def headline(traces_dir: Path) -> dict[str, Any]:
    tuned = load_values(EXAMPLES / "values.yaml")
    like_keda = load_values(EXAMPLES / "values-keda-defaults.yaml")
    windows = KedaSettings(scale_down_stabilization_s=60.0, cooldown_period_s=120.0)
    results: dict[str, Any] = {}
    for path in sorted(traces_dir.glob("*.csv")):
        trace = load(path, tail_s=SimSettings().tail_s)
        specs = tuned.specs(list(trace.queues))
        results[path.stem] = {
            "keda": _run(trace, specs, KedaController(specs)),
            "shoal (KEDA's targets)": _run(trace, specs, _shoal(like_keda, specs)),
            "shoal (tuned)": _run(trace, specs, _shoal(tuned, specs)),
            "keda (tuned windows)": _run(trace, specs, KedaController(specs, windows)),
        }
    return results


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| trace | policy | p95 wait | replica-s | vs keda: replica-s | peak |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for trace, runs in results.items():
        base = runs["keda"]["replica_seconds"]
        for policy, r in runs.items():
            share = f"{r['replica_seconds'] / base:.2f}x" if base else "-"
            lines.append(
                f"| {trace} | {policy} | {r['p95_wait_s']:.0f} s | {r['replica_seconds']:.0f} "
                f"| {share} | {r['peak_replicas']} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.simulate_bench", description=__doc__)
    p.add_argument("--traces", type=Path, default=TRACES)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-headline", action="store_true")
    args = p.parse_args(argv)
    data: dict[str, Any] = {
        "machine": common.machine(),
        "command": "python -m bench.simulate_bench",
    }
    failed = 0
    if not args.skip_headline:
        if not args.traces.is_dir():
            print(f"simulate_bench: no traces at {args.traces}")
            failed = 1
        else:
            data["headline"] = headline(args.traces)
            print(markdown(data["headline"]))
    if not args.skip_speed:
        data["speed"] = speed(args.rounds)
        print("\n" + "\n".join(speed_lines(data["speed"])))
        if min(r["median_s"] for r in data["speed"]["shoal"]) > SPEED_TARGET_S:
            print(f"simulate_bench: shoal over the {SPEED_TARGET_S:g} s target")
            failed = 1
    path = common.write_json("simulate", data)
    print(f"written {path}")
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
