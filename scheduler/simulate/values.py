"""A Helm values file (or the autoscaler's config file) as the simulator needs it.

A values file is read the way helm and the chart read it, by the one resolver
(:mod:`contract.chartvalues`): layered over the chart's own ``values.yaml`` (shipped beside this
module as ``chart-values.yaml``), then each queue resolved as ``shoal.queues`` resolves it. So
the simulator models the workers the chart deploys: the same concurrency, prefetch and
``autoscaling`` fields, and a queue without autoscaling at its fixed ``replicas``. The poll
interval is ``autoscaler.pollIntervalSeconds``.

A file with a top-level key only the autoscaler's config file has (``pollIntervalSeconds``,
``namespace``, ...) is that config file, read by the autoscaler's own parser; its queues take
the chart's per-pool prefetch.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from contract.chartvalues import Values, as_int, autoscaled, coalesce, resolve_queues
from contract.yamlfile import YamlError, load_strict
from scheduler.autoscaler.config import (
    ConfigError,
    QueuePolicy,
    parse_config,
    queue_policies_from_values,
)
from scheduler.simulate.controllers import QueueSpec

CHART_VALUES = Path(__file__).with_name("chart-values.yaml")
"""The chart's ``values.yaml`` (a link to ``charts/shoal/values.yaml``; a copy in a wheel)."""
CONFIG_ONLY_KEYS = (
    "pollIntervalSeconds",
    "namespace",
    "leaderElection",
    "metricsPort",
    "healthPort",
)
"""Top-level keys of the autoscaler's config file that a values file cannot have."""


@dataclass(frozen=True)
class SimValues:
    poll_interval_s: float
    policies: tuple[QueuePolicy, ...]
    prefetch: dict[str, int]
    fixed_replicas: dict[str, int] = field(default_factory=dict)
    """Queues the autoscaler does not scale: the replicas their Deployment has."""

    def specs(self, order: list[str]) -> list[QueueSpec]:
        by_name = {p.name: p for p in self.policies}
        return [
            QueueSpec(
                name=name,
                pool=str(by_name[name].pool),
                concurrency=by_name[name].concurrency,
                min_replicas=by_name[name].min_replicas,
                max_replicas=by_name[name].max_replicas,
                target_latency_s=by_name[name].target_latency_s,
                reserved_per_replica=reserved_per_replica(
                    str(by_name[name].pool), by_name[name].concurrency, self.prefetch[name]
                ),
                fixed_replicas=self.fixed_replicas.get(name),
            )
            for name in order
        ]


def reserved_per_replica(pool: str, concurrency: int, prefetch_multiplier: int) -> int:
    """Tasks a busy replica holds beyond its running ones (see ``QueueSpec``)."""
    if pool == "gevent":
        return 1
    return concurrency * max(prefetch_multiplier - 1, 0)


@cache
def _chart_defaults() -> Values:
    try:
        data = load_strict(CHART_VALUES.read_text(encoding="utf-8"))
    except (OSError, YamlError) as exc:
        raise ConfigError(
            f"{CHART_VALUES}: the chart's values.yaml cannot be read ({exc})"
        ) from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{CHART_VALUES}: expected a mapping")
    return dict(data)


def chart_defaults() -> Values:
    """The chart's ``values.yaml`` (a fresh copy)."""
    return copy.deepcopy(_chart_defaults())


def read_file(path: Path) -> object:
    """A YAML file, strictly (a key twice in one mapping is an error); errors name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return load_strict(text)
    except YamlError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def chart_values(data: object) -> Values:
    """A values file's content as the chart's templates see it: over the chart's defaults."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError("the values file: expected a mapping")
    return coalesce(chart_defaults(), data)


@contextmanager
def naming(path: Path) -> Iterator[None]:
    """A :class:`ConfigError` raised inside names ``path`` first."""
    try:
        yield
    except ConfigError as exc:
        if str(exc).startswith(f"{path}: "):
            raise
        raise ConfigError(f"{path}: {exc}") from None


def load_values(path: Path) -> SimValues:
    with naming(path):
        return parse_values(read_file(path))


def parse_values(data: object) -> SimValues:
    """A values file's (or the autoscaler's config file's) content as the simulator's queues."""
    if isinstance(data, Mapping) and any(key in data for key in CONFIG_ONLY_KEYS):
        return _from_config(data)
    values = chart_values(data)
    queues = resolve_queues(values)
    if not queues:
        raise ConfigError("queues: expected a non-empty list of queues")
    return SimValues(
        poll_interval_s=_poll_interval(values),
        policies=queue_policies_from_values({"queues": queues}),
        prefetch={q["name"]: as_int(q["prefetchMultiplier"]) for q in queues},
        fixed_replicas={q["name"]: as_int(q.get("replicas")) for q in queues if not autoscaled(q)},
    )


def _from_config(data: Mapping[str, Any]) -> SimValues:
    config = parse_config(data)
    if not config.queues:
        raise ConfigError("queues: expected a non-empty list of queues")
    pools = chart_defaults()["pools"]
    return SimValues(
        poll_interval_s=config.poll_interval_s,
        policies=config.queues,
        prefetch={p.name: as_int(pools[str(p.pool)]["prefetchMultiplier"]) for p in config.queues},
    )


def _poll_interval(values: Mapping[str, Any]) -> float:
    autoscaler = values.get("autoscaler")
    raw = autoscaler.get("pollIntervalSeconds") if isinstance(autoscaler, Mapping) else None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        raise ConfigError(f"autoscaler.pollIntervalSeconds: must be a number > 0, got {raw!r}")
    return float(raw)
