"""Delivery under failure, measured: kills, Redis restarts, delayed tasks and idle cost.

Four sections (``--only kills,restart,delayed,idle``), each on a private redis-server with an
append-only file fsynced on every write:

- ``kills``: the SIGKILL soak (:mod:`tests.support.soak`) for prefork and gevent, killing the
  whole process group and the main process only, ``--kills`` per combination (200 in all by
  default): tasks lost, completed tasks run twice, and how long after a kill each task the
  killed worker held started again (median, max; the aim is 30 s with the default 15 s liveness
  timeout).
- ``restart``: Redis killed (SIGKILL) mid-burst of 1,500 tasks, started again 10 s later from
  its append-only file, ``--restart-rounds`` per pool: lost, FAILURE results of completed tasks,
  dead letters, tasks run twice.
- ``delayed``: ``--delayed`` tasks (100,000) published with a countdown; a worker parks them in
  Redis (its memory before and after), then, once due, :func:`contract.delayed.promote` moves them
  back (tasks a second, aim at least 10,000).
- ``idle``: ``--idle-workers`` (200) idle ``shoal worker --pool gevent`` processes, then as many
  plain Celery gevent workers (BRPOP): Redis CPU (used_cpu_sys + used_cpu_user) over a minute, as
  a share of one core (aim under 5 %).

    python -m bench.delivery_soak [--only kills,restart,delayed,idle] [--kills N] ...
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import common, delivery_delayed, delivery_idle, delivery_restart
from tests.support import soak
from tests.support.procs import Proc, worker_argv
from tests.support.redis_server import RedisServer

NAME = "delivery_soak"
SECTIONS = ("kills", "restart", "delayed", "idle")
AOF_ARGS = ("--appendonly", "yes", "--appendfsync", "always")
TASKS = "tests.integration.delivery.tasks"
RESTART_AIM_S = 30.0


def worker_env(
    url: str, work: Path, worker_id: str, record_file: Path, **extra: str
) -> dict[str, str]:
    env = common.child_env(
        SHOAL_REDIS_URL=url,
        SHOAL_METRICS_PORT="0",
        SHOAL_HEALTH_PORT="0",
        SHOAL_WORKER_ID=worker_id,
        SHOAL_IMPORTS=TASKS,
        DELIVERY_RECORD_FILE=str(record_file),
        PROMETHEUS_MULTIPROC_DIR=str(work / f"prom-{worker_id}"),
    )
    (work / f"prom-{worker_id}").mkdir(parents=True, exist_ok=True)
    env.update(extra)
    return env


def kill_combo(server: RedisServer, work: Path, pool: str, mode: str, kills: int) -> dict[str, Any]:
    """One soak: ``kills`` kills of ``pool`` workers in ``mode`` while bursts flow."""
    concurrency, task_s = (2, 0.01) if pool == "prefork" else (20, 0.2)
    config = soak.SoakConfig(
        pool=pool, concurrency=concurrency, kill_mode=mode, kills=kills, task_s=task_s
    )
    server.client().flushall()
    record = work / f"kills-{pool}-{mode}.txt"
    started: list[Proc] = []

    def start(worker_id: str) -> Proc:
        env = worker_env(server.url, work, worker_id, record)
        argv = worker_argv(soak.QUEUE, pool, concurrency)
        proc = Proc(argv, env=env, log=work / f"{pool}-{mode}-{worker_id}.log", name=worker_id)
        started.append(proc)
        return proc

    try:
        report = soak.run(server.url, record, config, start, drain_timeout_s=600)
    finally:
        for proc in started:
            proc.stop(grace_s=5.0)
    summary = report.summary()
    print(f"  kills {pool:<7} {mode:<5} {json.dumps(summary)}", flush=True)
    return summary


def run_kills(
    server: RedisServer, work: Path, kills: int, pools: list[str]
) -> list[dict[str, Any]]:
    combos = [(pool, mode) for pool in pools for mode in ("group", "main")]
    return [kill_combo(server, work, pool, mode, kills) for pool, mode in combos]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.delivery_soak", description=__doc__)
    p.add_argument("--only", default=",".join(SECTIONS))
    p.add_argument("--kills", type=int, default=50, help="per pool and kill mode")
    p.add_argument("--kill-pools", default="prefork,gevent")
    p.add_argument("--restart-rounds", type=int, default=3, help="per pool")
    p.add_argument("--delayed", type=int, default=100_000)
    p.add_argument("--idle-workers", type=int, default=200)
    p.add_argument("--idle-window-s", type=float, default=60.0)
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in args.only if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    data: dict[str, Any] = {"benchmark": NAME, "machine": common.machine(), "sections": {}}
    with common.workdir(NAME) as work:
        server = RedisServer(common.redis_binary(), work / "redis", extra_args=AOF_ARGS)
        server.start()
        try:
            if "kills" in args.only:
                pools = [p.strip() for p in args.kill_pools.split(",") if p.strip()]
                data["sections"]["kills"] = run_kills(server, work, args.kills, pools)
            if "restart" in args.only:
                data["sections"]["restart"] = delivery_restart.run(
                    server, work, rounds=args.restart_rounds, env=worker_env
                )
            if "delayed" in args.only:
                data["sections"]["delayed"] = delivery_delayed.run(
                    server, work, count=args.delayed, env=worker_env
                )
            if "idle" in args.only:
                data["sections"]["idle"] = delivery_idle.run(
                    server, work, workers=args.idle_workers, window_s=args.idle_window_s,
                    env=worker_env,
                )  # fmt: skip
        finally:
            server.stop()
    return data


def verdicts(data: dict[str, Any]) -> list[str]:
    lines = []
    sections = data["sections"]
    for row in sections.get("kills", []):
        ok = (
            row["lost"] == 0
            and row["not_restarted"] == 0
            and row.get("started_twice_unheld", 0) == 0
            and (row["restart_max_s"] is None or row["restart_max_s"] <= RESTART_AIM_S)
        )
        lines.append(
            f"{'PASS' if ok else 'FAIL'}: kills {row['pool']}/{row['kill_mode']}: "
            f"{row['kills']} kills, {row['lost']} lost, {row['done_twice']} completed twice, "
            f"{row.get('started_twice_unheld', 0)} run twice while a live worker held them, "
            f"restart median {row['restart_median_s']} s max {row['restart_max_s']} s"
        )
    for row in sections.get("restart", []):
        ok = row["lost"] == 0 and row["false_failures"] == 0 and row["dead_letters"] == 0
        lines.append(
            f"{'PASS' if ok else 'FAIL'}: Redis restart {row['pool']} round {row['round']}: "
            f"{row['lost']} lost, {row['false_failures']} false FAILURE, {row['dead_letters']} "
            f"dead letters, {row['started_twice']} started twice"
        )
    if "delayed" in sections:
        row = sections["delayed"]
        ok = row["promote_per_s"] >= 10_000
        lines.append(
            f"{'PASS' if ok else 'FAIL'}: {row['count']} delayed tasks promoted at "
            f"{row['promote_per_s']:.0f}/s; worker RSS {row['rss_before_mb']} -> "
            f"{row['rss_after_mb']} MB (peak {row['rss_peak_mb']})"
        )
    for row in sections.get("idle", []):
        ok = row["variant"] != "shoal" or row["redis_cpu_pct"] < 5.0
        if row["variant"] == "none":
            lines.append(f"INFO: Redis alone: {row['redis_cpu_pct']:.2f} % of a core")
            continue
        lines.append(
            f"{'PASS' if ok else 'INFO'}: {row['workers']} idle {row['variant']} workers: "
            f"Redis CPU {row['redis_cpu_pct']:.2f} % of a core, {row['commands_per_s']:.0f} "
            f"commands/s"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    common.exit_on_sigterm()
    args = parse_args(argv)
    print(f"{NAME}: sections {', '.join(args.only)}", flush=True)
    started = time.monotonic()
    data = run(args)
    data["elapsed_s"] = round(time.monotonic() - started, 1)
    path = common.write_json(NAME, data)
    lines = verdicts(data)
    print("\n" + "\n".join(lines))
    print(f"written: {path.relative_to(common.ROOT)}")
    return 0 if all(not line.startswith("FAIL") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
