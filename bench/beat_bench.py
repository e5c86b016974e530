"""The beat at scale, beside the stock django-celery-beat scheduler, in one run.

1. anchor: 10,000 rows in django-celery-beat's tables on a private PostgreSQL (half interval
   rows every minute, half every-minute crontabs in five zones). The stock
   ``celery -A proj beat -S django_celery_beat.schedulers:DatabaseScheduler`` runs on them,
   then two ``shoal beat --app proj`` replicas run on the same rows.
2. scale: 100,000 entries on two ``shoal beat`` replicas: 50,000 rows (every-minute intervals,
   every-minute and hourly crontabs in five zones) and a schedules file of 50,000 entries
   (``every: 1m`` and hourly crons in five zones). Target: p99 lateness <= 1 s.

Lateness is measured the same way for every scheduler: a consumer drains the queues every
50 ms and notes when each message arrived; lateness is arrival minus the tick (shoal's
``shoal_beat_tick_ms`` header; for the stock scheduler, the minute for crontab rows and the
previous run plus the interval for interval rows, as it schedules them). Edits: every 20 s a
probe row (every second) is saved with a new queue through the ORM, as the admin saves it;
the time from the save to its first message on the new queue is the edit's delay (target:
<= 5 s). Each beat's CPU and peak resident memory come from /proc.

    python -m bench.beat_bench [--entries 100000] [--anchor-rows 10000] [--minutes 4]
                               [--anchor-minutes 3] [--warmup-s 60] [--skip-anchor]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import redis

from bench import common
from bench.beat_load import (
    Arrival,
    Consumer,
    Mix,
    Sampler,
    anchor,
    insert_rows,
    scaled,
    write_file,
)
from tests.support.django_project import DB_TABLES, migrate, orm, project_env
from tests.support.postgres_server import PostgresServer
from tests.support.procs import Proc
from tests.support.redis_server import RedisServer

NAME = "beat"
LATENESS_TARGET_S = 1.0
EDIT_TARGET_S = 5.0
PROBE_EVERY_S = 20.0
QUEUES = {"iq", "cq", "hq", "fq"}
STOCK_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def lateness(arrivals: list[Arrival], t0: float, t1: float) -> dict[str, Any]:
    """Arrival minus due time, for the messages due within [t0, t1]."""
    previous: dict[str, float] = {}
    late: list[float] = []
    beat_side: list[float] = []
    per_second: dict[int, int] = defaultdict(int)
    for a in sorted(arrivals, key=lambda a: a.at):
        if a.queue.startswith("pq"):
            continue
        if a.tick_ms is not None:
            due = a.tick_ms / 1000
        elif a.queue == "cq":
            due = math.floor(a.at / 60) * 60
        elif a.queue == "iq":
            due = previous[a.name] + 60 if a.name in previous else float("nan")
            previous[a.name] = a.at
        else:
            continue
        if math.isnan(due) or not t0 <= due <= t1:
            continue
        late.append(max(a.at - due, 0.0))
        per_second[int(due)] += 1
        if a.published_at is not None:
            beat_side.append(max(a.published_at - due, 0.0))
    return {
        "ticks": len(late),
        "p50_s": round(percentile(late, 0.5), 3),
        "p99_s": round(percentile(late, 0.99), 3),
        "max_s": round(max(late, default=float("nan")), 3),
        "beat_clock_p99_s": round(percentile(beat_side, 0.99), 3) if beat_side else None,
        "largest_second": max(per_second.values(), default=0),
    }


def probe_edits(env: dict[str, str], consumer: Consumer, until: float) -> list[float]:
    """Save the probe row with a new queue every PROBE_EVERY_S; each edit's delay."""
    delays: list[float] = []
    k = 0
    run = int(time.time())
    while time.time() + PROBE_EVERY_S < until:
        k += 1
        queue = f"pq-{run}-{k}"  # never used before: its first message is this edit's
        consumer.watch(queue)
        saved = float(orm(env, f"""
t = PeriodicTask.objects.get(name='probe'); t.queue = '{queue}'
result = datetime.now(timezone.utc).timestamp()  # the edit's time: just before the save
t.save()
"""))  # fmt: skip
        deadline = saved + 30
        while time.time() < deadline:
            first = consumer.first_arrival(queue)
            if first is not None:
                delays.append(round(first - saved, 2))
                break
            time.sleep(0.2)
        else:
            delays.append(float("inf"))
        time.sleep(max(0.0, saved + PROBE_EVERY_S - time.time()))
    return delays


def add_probe(db_url: str) -> None:
    import psycopg2

    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO django_celery_beat_intervalschedule (every, period) "
                        "VALUES (1, 'seconds') RETURNING id")  # fmt: skip
            cur.execute(
                "INSERT INTO django_celery_beat_periodictask (name, task, interval_id, args, "
                "kwargs, queue, headers, one_off, enabled, total_run_count, date_changed, "
                "description) VALUES ('probe', %s, %s, '[]', '{}', 'pq0', '{}', false, true, 0, "
                "now(), '')",
                ("orders.tasks.send_daily_email", cur.fetchone()[0]),
            )  # fmt: skip
    finally:
        conn.close()


def empty_tables(db_url: str) -> None:
    import psycopg2

    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"TRUNCATE {', '.join(DB_TABLES)} RESTART IDENTITY CASCADE")
    finally:
        conn.close()


def measure(
    procs: list[Proc], client: redis.Redis, env: dict[str, str], *, warmup_s: float,
    minutes: float, ready: str,
) -> dict[str, Any]:  # fmt: skip
    """Run the started beats through a warm-up and the measured window."""
    started = time.time()
    deadline = started + 600
    while not any(ready in p.output() for p in procs):
        if time.time() > deadline or not all(p.alive() for p in procs):
            raise RuntimeError("beat did not start:\n" + procs[0].output()[-3000:])
        time.sleep(0.5)
    startup_s = time.time() - started
    consumer = Consumer(client, set(QUEUES))
    consumer.start()
    time.sleep(warmup_s)
    sampler = Sampler([p.pid for p in procs])
    sampler.start()
    t0 = time.time()
    t1 = t0 + minutes * 60
    try:
        edits = probe_edits(env, consumer, t1)
        time.sleep(max(0.0, t1 + 5 - time.time()))
    finally:
        sampler.stop()
        consumer.stop()
    for p in procs:
        if not p.alive():
            raise RuntimeError(f"a beat died:\n{p.output()[-3000:]}")
    return {
        "startup_s": round(startup_s, 1),
        "window_s": round(t1 - t0),
        "lateness": lateness(consumer.parsed(), t0, t1),
        "edits_s": edits,
        "processes": sampler.report(),
    }


def run_stock(env: dict[str, str], client: redis.Redis, log_dir: Path, **kw: Any) -> dict[str, Any]:
    argv = [sys.executable, "-m", "celery", "-A", "proj", "beat", "-S", STOCK_SCHEDULER,
            "--loglevel", "INFO"]  # fmt: skip
    proc = Proc(argv, env=env, log=log_dir / "stock-beat.log", name="stock-beat")
    try:
        return measure([proc], client, env, ready="beat: Starting", **kw)
    finally:
        proc.stop()


def run_shoal(
    env: dict[str, str], client: redis.Redis, log_dir: Path, *extra: str, **kw: Any
) -> dict[str, Any]:
    argv = [sys.executable, "-m", "shoal", "beat", "--app", "proj", "--metrics-port", "0", *extra]
    procs = [Proc(argv, env=env, log=log_dir / f"shoal-beat{i}.log", name=f"beat{i}")
             for i in range(2)]  # fmt: skip
    try:
        return measure(procs, client, env, ready="leader: True", **kw)
    finally:
        for p in procs:
            p.stop()


def load(db_url: str, mix: Mix, prefix: str) -> None:
    insert_rows(db_url, mix, prefix=prefix)


def row(label: str, result: dict[str, Any], entries: int) -> list[object]:
    late = result["lateness"]
    edits = [e for e in result["edits_s"] if e != float("inf")]
    cpu = "/".join(f"{p['cpu_percent']:g}%" for p in result["processes"])
    rss = "/".join(f"{p['peak_rss_mb']:.0f}" for p in result["processes"])
    return [
        label, f"{entries:,}", late["ticks"], late["p50_s"], late["p99_s"], late["max_s"],
        late["largest_second"],
        f"{percentile(edits, 0.5):.1f} / {max(edits, default=float('nan')):.1f}"
        f" ({len(result['edits_s']) - len(edits)} never)",
        cpu, rss, result["startup_s"],
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    common.exit_on_sigterm()
    p = argparse.ArgumentParser(prog="python -m bench.beat_bench", description=__doc__)
    p.add_argument("--entries", type=int, default=100_000)
    p.add_argument("--anchor-rows", type=int, default=10_000)
    p.add_argument("--minutes", type=float, default=4)
    p.add_argument("--anchor-minutes", type=float, default=3)
    p.add_argument("--warmup-s", type=float, default=60)
    p.add_argument("--skip-anchor", action="store_true")
    args = p.parse_args(argv)
    data: dict[str, Any] = {
        "machine": common.machine(),
        "command": " ".join(
            ["python -m bench.beat_bench", *(argv if argv is not None else sys.argv[1:])]
        ),
    }
    timing = {"warmup_s": args.warmup_s}
    with common.workdir("beat") as work:
        server = RedisServer(common.redis_binary(), work / "redis")
        postgres = PostgresServer(work / "postgres")
        server.start()
        postgres.start()
        try:
            client = server.client()
            env = project_env(common.child_env(), server.url, database_url=postgres.url())
            env["PYTHONPATH"] = f"{common.ROOT}:{env['PYTHONPATH']}"
            migrate(env)
            rows: list[list[object]] = []
            if not args.skip_anchor:
                mix = anchor(args.anchor_rows)
                empty_tables(postgres.url())
                load(postgres.url(), mix, "a")
                add_probe(postgres.url())
                client.flushall()
                print(f"anchor: {mix.total:,} rows, stock DatabaseScheduler", flush=True)
                data["stock"] = run_stock(env, client, work, minutes=args.anchor_minutes, **timing)
                rows.append(row("stock DatabaseScheduler", data["stock"], mix.total))
                client.flushall()
                print("anchor: the same rows, shoal beat x2", flush=True)
                data["shoal_anchor"] = run_shoal(env, client, work, minutes=args.anchor_minutes,
                                                 **timing)  # fmt: skip
                rows.append(row("shoal beat x2", data["shoal_anchor"], mix.total))
            mix = scaled(args.entries)
            empty_tables(postgres.url())
            load(postgres.url(), mix, "s")
            add_probe(postgres.url())
            schedules = work / "schedules.yaml"
            write_file(schedules, mix)
            client.flushall()
            print(f"scale: {mix.total:,} entries ({mix}), shoal beat x2", flush=True)
            data["shoal_scale"] = run_shoal(env, client, work, "--schedules", str(schedules),
                                            minutes=args.minutes, **timing)  # fmt: skip
            data["mix"] = mix.__dict__
            rows.append(row("shoal beat x2", data["shoal_scale"], mix.total))
        finally:
            postgres.stop()
            server.stop()
    headers = ["scheduler", "entries", "ticks", "p50 s", "p99 s", "max s", "largest second",
               "edit p50 / max s", "CPU", "RSS MB", "start s"]  # fmt: skip
    print(common.table(headers, rows))
    path = common.write_json(NAME, data)
    print(f"written {path}")
    scale = data["shoal_scale"]
    ok = scale["lateness"]["p99_s"] <= LATENESS_TARGET_S and all(
        e <= EDIT_TARGET_S for e in scale["edits_s"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
