"""``shoal demo``: the whole platform on this machine, with a live view.

    shoal demo [--duration-s N] [--trace FILE] [--values FILE] [--out-dir demo-out]

Starts a private ``redis-server`` on a free port, the autoscaler with the local actuator
(``shoal autoscaler --actuator local``: it runs ``shoal worker`` processes per queue, from
zero), a beat with a few entries, and a load generator replaying a trace; then shows every
queue (backlog, oldest wait, in flight, replicas desired and running, throughput) and the
autoscaler's recent decisions with their reasons. Ctrl-C or ``--duration-s`` ends it: every
child is stopped by its pid, a summary is printed, and ``demo-out/demo.png`` is written. Without
a terminal it prints plain lines.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import redis
import yaml

from contract.chartvalues import Values, as_int, autoscaled, autoscaler_queues, resolve_queues
from scheduler.autoscaler.config import ConfigError
from scheduler.demo import render
from scheduler.demo.children import Child, Children, environ_matches
from scheduler.demo.view import History, Reader
from scheduler.simulate.trace import TraceError, read_rows
from scheduler.simulate.values import chart_values, naming, read_file

HERE = Path(__file__).resolve().parent
DEMO_VALUES = HERE / "demo-values.yaml"
DEMO_TRACE = HERE / "demo-trace.csv"
DEMO_SCHEDULES = HERE / "schedules.yaml"


class DemoError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shoal demo", description=__doc__.splitlines()[0])
    p.add_argument("--duration-s", type=float, help="stop after this (default: trace + 45 s)")
    p.add_argument("--trace", type=Path, default=DEMO_TRACE, help="trace CSV for the load")
    p.add_argument("--values", type=Path, default=DEMO_VALUES, help="queues (Helm values names)")
    p.add_argument("--out-dir", type=Path, default=Path("demo-out"), help="logs, summary, PNG")
    p.add_argument("--refresh-s", type=float, default=1.0, help="view refresh interval")
    p.add_argument(
        "--fixed-workers", action="store_true", help="one worker per queue, no autoscaler"
    )
    return p


def demo_values(path: Path) -> Values:
    """A values file as the chart's templates see it (over the chart's own defaults)."""
    return chart_values(read_file(path))


def autoscaler_config(values: Mapping[str, Any], redis_url: str) -> dict[str, Any]:
    """The controller's config file for the values' queues, as the chart writes it (the
    autoscaler's ConfigMap), with the demo's Redis and without leader election."""
    return {
        "pollIntervalSeconds": values["autoscaler"]["pollIntervalSeconds"],
        "redis": {"url": redis_url},
        "leaderElection": {"enabled": False},
        "queues": autoscaler_queues(resolve_queues(values)),
    }


def trace_length_s(path: Path) -> float:
    return max((row.time_s for row in read_rows(path)), default=0.0)


class Demo:
    def __init__(self, args: argparse.Namespace, values: Values) -> None:
        self.args = args
        self.out: Path = args.out_dir
        self.children = Children(self.out / "logs")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.marker = f"SHOAL_REDIS_URL={self.url}"
        self.values = values
        self.resolved = resolve_queues(values)
        self.queues = [str(q["name"]) for q in self.resolved]
        self.pools = {str(q["name"]): str(q["pool"]) for q in self.resolved}
        self.history = History(self.queues)
        self.mode = "fixed workers"
        self.started = time.monotonic()
        self.client = redis.Redis(port=self.port, socket_timeout=5)
        self.reader = Reader(self.client, self.queues)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
        env.update(
            SHOAL_REDIS_URL=self.url,
            SHOAL_METRICS_PORT="0",
            SHOAL_HEALTH_PORT="0",
            SHOAL_DRAIN_TIMEOUT_S="5",
            SHOAL_LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        return env

    def shoal(self, name: str, *args: str) -> Child:
        return self.children.start(name, [sys.executable, "-m", "shoal", *args], env=self.env())

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise DemoError("redis-server is not installed (apt-get install redis-server)")
        data = self.out / "redis"
        data.mkdir(parents=True, exist_ok=True)
        self.children.start(
            "redis",
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(data)],
            env={"PATH": os.environ.get("PATH", "")},
        )  # fmt: skip
        self._wait_for_redis()
        self._start_scaling()
        if importlib.util.find_spec("scheduler.beat.cli") is not None:
            self.shoal("beat", "beat", "--schedules", str(DEMO_SCHEDULES), "--metrics-port", "0")
        self.shoal("load", "load", "--trace", str(self.args.trace), "--redis-url", self.url)

    def _wait_for_redis(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise DemoError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def _start_scaling(self) -> None:
        have_autoscaler = importlib.util.find_spec("scheduler.autoscaler.cli") is not None
        if have_autoscaler and not self.args.fixed_workers:
            config = self.out / "autoscaler.yaml"
            config.write_text(yaml.safe_dump(autoscaler_config(self.values, self.url)))
            workers_log = str(self.out / "logs" / "workers")
            self.shoal(
                "autoscaler", "autoscaler", "--config", str(config), "--actuator", "local",
                "--metrics-port", "0", "--health-port", "0", "--worker-log-dir", workers_log,
            )  # fmt: skip
            self.mode = "autoscaler, local actuator"
            for q in self.resolved:  # the queues without autoscaling run their fixed replicas
                if not autoscaled(q):
                    for n in range(as_int(q.get("replicas"))):
                        self._worker(q, f"worker-{q['name']}-{n}")
            return
        for q in self.resolved:
            self._worker(q, f"worker-{q['name']}")

    def _worker(self, queue: Values, child: str) -> None:
        self.shoal(
            child, "worker", "--queue", str(queue["name"]), "--pool", str(queue["pool"]),
            "--concurrency", str(as_int(queue["concurrency"])),
        )  # fmt: skip

    def run(self, duration_s: float) -> None:
        tty = sys.stdout.isatty()
        next_plain = 0.0
        while True:
            elapsed = time.monotonic() - self.started
            if elapsed >= duration_s:
                return
            self.history.add(round(elapsed, 2), self.reader.read())
            if tty:
                header = (
                    f"shoal demo: {elapsed:.0f}s of {duration_s:.0f}s, "
                    f"redis 127.0.0.1:{self.port}, {self.mode}"
                )
                sys.stdout.write(render.frame(self.history, header=header, pools=self.pools))
                sys.stdout.flush()
            elif elapsed >= next_plain:
                print("\n".join(render.plain_lines(self.history, elapsed)), flush=True)
                next_plain = elapsed + 5.0
            time.sleep(max(0.0, self.args.refresh_s - (time.monotonic() - self.started - elapsed)))

    def stop(self) -> dict[str, Any]:
        """Stop every child by pid (load, beat, autoscaler with its workers, then Redis)."""
        by_name = {c.name: c for c in self.children.children}
        order = [n for n in by_name if n not in ("redis",)] + ["redis"]
        for name in order:
            if name == "redis":
                self.children.sweep(self.marker)
            child = by_name.get(name)
            if child is not None:
                self.children.stop(child, grace_s=45.0 if name == "autoscaler" else 15.0)
        pids = self.children.pids()
        survivors = environ_matches(self.marker)
        return {"children": pids, "swept": self.children.swept, "survivors": survivors}


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        with naming(args.values):
            values = demo_values(args.values)
            if not resolve_queues(values):
                raise ConfigError("queues: expected a non-empty list of queues")
        trace_s = trace_length_s(args.trace)
    except (ConfigError, TraceError) as exc:
        print(f"shoal demo: {exc}", file=sys.stderr)
        return 2
    duration = args.duration_s if args.duration_s is not None else trace_s + 45
    for sig in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: a background job ignores it
        signal.signal(sig, _raise_interrupt)
    demo = Demo(args, values)
    demo.out.mkdir(parents=True, exist_ok=True)
    processes: dict[str, Any] = {}
    try:
        demo.start()
        demo.run(duration)
    except KeyboardInterrupt:
        pass
    except DemoError as exc:
        print(f"shoal demo: {exc}", file=sys.stderr)
        return 2
    finally:
        if sys.stdout.isatty():
            sys.stdout.write("\n")
        processes = demo.stop()
    png = demo.out / "demo.png"
    elapsed = time.monotonic() - demo.started
    summaries = render.summarize(demo.history)
    if demo.history.looks and importlib.util.find_spec("matplotlib") is not None:
        render.plot(demo.history, png)
    elif demo.history.looks:
        print("shoal demo: no PNG without matplotlib (pip install 'shoal[plot]')", file=sys.stderr)
    print(render.summary_text(summaries, duration_s=elapsed, png=png if png.exists() else None))
    (demo.out / "summary.json").write_text(
        render.summary_json(summaries, mode=demo.mode, duration_s=elapsed, processes=processes)
    )
    if processes.get("survivors"):
        print(f"shoal demo: processes still running: {processes['survivors']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
