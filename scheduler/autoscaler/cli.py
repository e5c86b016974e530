"""``shoal autoscaler --config FILE --actuator kubernetes|local|dry-run [--once]``."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract.connection import RedisSettings
from contract.fields import add_options, declared, option_texts, read_env
from contract.reporting import SERVICE_LOG_LEVEL
from scheduler.autoscaler.config import ConfigError, ControllerConfig, load_config

if TYPE_CHECKING:
    from scheduler.autoscaler.controller import Outcome
    from scheduler.autoscaler.health import Liveness
    from scheduler.autoscaler.metrics import ControllerMetrics

log = logging.getLogger("shoal.autoscaler")


OPTIONS = {
    **{attr: s for attr, s in declared(ControllerConfig).items() if s.options},
    "log_level": SERVICE_LOG_LEVEL,
}
"""What the command line (or SHOAL_LOG_LEVEL) sets over the config file: ports and log level."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shoal autoscaler", description=__doc__)
    p.add_argument("--config", required=True, help="the controller's YAML config file")
    p.add_argument("--actuator", choices=("kubernetes", "local", "dry-run"), default="kubernetes")
    p.add_argument("--once", action="store_true", help="one pass, print the decisions, exit")
    p.add_argument("--worker-log-dir", help="local actuator: write each worker's output here")
    add_options(p, OPTIONS)
    return p


def identity() -> str:
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def build_kubernetes(
    config: ControllerConfig,
) -> tuple[Any, Callable[[], bool], Callable[[], None]]:
    from kubernetes import client as k8s

    from scheduler.autoscaler.kube_actuator import KubeActuator, load_credentials
    from scheduler.autoscaler.kube_lease import LeaseElector

    api = load_credentials()
    actuator = KubeActuator(api, namespace=config.namespace, identity=identity())
    election = config.leader_election
    if not election.enabled:
        return actuator, lambda: True, lambda: None
    elector = LeaseElector(
        k8s.CoordinationV1Api(api),
        namespace=config.namespace,
        name=election.lease_name,
        identity=identity(),
        duration_s=election.lease_duration_s,
    )
    return actuator, elector.is_leader, elector.release


def worker_env(redis: RedisSettings, env: Mapping[str, str]) -> dict[str, str]:
    """The local workers' environment: ours, with the controller's Redis."""
    out = dict(env)
    out["SHOAL_REDIS_URL"] = redis.url
    if redis.password:
        out["SHOAL_REDIS_PASSWORD"] = redis.password
    return out


def print_outcomes(outcomes: list[Outcome]) -> None:
    for o in outcomes:
        obs, d = o.observation, o.decision
        seen = (
            f"backlog {obs.backlog} in flight {obs.in_flight}" if obs.ok else "observation failed"
        )
        print(
            f"{o.queue.name}: {seen}; replicas {obs.current_replicas} -> {d.desired} "
            f"({d.reason}: {d.detail})"
        )


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    # The controller is one process: prometheus_client must not switch to the multiprocess
    # mode meant for prefork workers (it picks the mode at import). Local workers keep it.
    inherited = dict(os.environ)
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return run(args, inherited)


def run(args: argparse.Namespace, inherited: Mapping[str, str]) -> int:
    from scheduler.autoscaler.controller import Controller
    from scheduler.autoscaler.dry_run import DryRunActuator
    from scheduler.autoscaler.health import Liveness
    from scheduler.autoscaler.local_actuator import LocalActuator
    from scheduler.autoscaler.metrics import ControllerMetrics
    from scheduler.autoscaler.redis_source import RedisSource
    from scheduler.autoscaler.reload import ConfigWatcher
    from scheduler.autoscaler.upkeep import Upkeep

    try:
        given = read_env(OPTIONS, os.environ, options=option_texts(args, OPTIONS))
        level = given.pop("log_level", SERVICE_LOG_LEVEL.default)
        config = dataclasses.replace(load_config(args.config), **given)
        redis = config.redis.settings(os.environ)
    except (ConfigError, ValueError) as exc:
        print(f"shoal autoscaler: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = redis.connect()
    source = RedisSource(client, steps=config.priority.steps, sep=config.priority.separator)
    release: Callable[[], None] = lambda: None  # noqa: E731
    is_leader: Callable[[], bool] = lambda: True  # noqa: E731
    actuator: Any
    if args.actuator == "kubernetes":
        actuator, is_leader, release = build_kubernetes(config)
    elif args.actuator == "local":
        log_dir = Path(args.worker_log_dir) if args.worker_log_dir else None
        actuator = LocalActuator(env=worker_env(redis, inherited), log_dir=log_dir)
    else:
        actuator = DryRunActuator()
    metrics = ControllerMetrics()
    liveness = Liveness(stale_after_s=max(30.0, 5 * config.poll_interval_s))
    controller = Controller(
        config=config,
        source=source,
        actuator=actuator,
        status_client=client,
        in_flight_by_worker=lambda queue: _in_flight_by_worker(client, queue),
        metrics=metrics,
        liveness=liveness,
        watcher=ConfigWatcher(args.config, config),
        is_leader=is_leader,
        # A dry run changes nothing: no delayed task promoted, no dead worker's task given back.
        upkeep=None if args.actuator == "dry-run" else Upkeep(client),
    )
    try:
        if args.once:
            print_outcomes(controller.step())
            return 0
        _serve(args, config, metrics, liveness)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        log.info(
            "autoscaler: %d queues, every %gs, actuator %s",
            len(config.queues),
            config.poll_interval_s,
            args.actuator,
        )
        controller.run(stop)
        return 0
    finally:
        actuator.close()
        release()
        source.close()


def _serve(
    args: argparse.Namespace, config: ControllerConfig, metrics: ControllerMetrics, live: Liveness
) -> None:
    from scheduler.autoscaler.health import serve

    if config.metrics_port:
        metrics.serve(config.metrics_port)
    if config.health_port:
        serve(live, config.health_port)


def _in_flight_by_worker(client: Any, queue: str) -> Mapping[str, int]:
    from contract.inflight import read_inflight

    return read_inflight(client, [queue], int(time.time() * 1000)).get(queue, {})
