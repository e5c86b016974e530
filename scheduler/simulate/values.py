"""A Helm values file (or the autoscaler's config file) as the simulator needs it.

The queues are read by the autoscaler's own ``queue_policies_from_values`` after the chart's
defaults are filled in the way the chart fills them: ``queueDefaults`` under each queue (the
``autoscaling`` block merged key by key), then the pool's ``concurrency`` and
``prefetchMultiplier`` from ``pools.<pool>`` (a prefork ``concurrency: null`` means the CPU
request, rounded up). The poll interval is ``autoscaler.pollIntervalSeconds`` (values file) or
``pollIntervalSeconds`` (config file), 2 s when neither is set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scheduler.autoscaler.config import ConfigError, QueuePolicy, queue_policies_from_values
from scheduler.simulate.controllers import QueueSpec

DEFAULT_POLL_INTERVAL_S = 2.0
DEFAULT_PREFETCH = {"prefork": 1, "gevent": 4}
DEFAULT_CONCURRENCY = {"prefork": 1, "gevent": 200}


@dataclass(frozen=True)
class SimValues:
    poll_interval_s: float
    policies: tuple[QueuePolicy, ...]
    prefetch: dict[str, int]

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
            )
            for name in order
        ]


def reserved_per_replica(pool: str, concurrency: int, prefetch_multiplier: int) -> int:
    """Tasks a busy replica holds beyond its running ones (see ``QueueSpec``)."""
    if pool == "gevent":
        return 1
    return concurrency * max(prefetch_multiplier - 1, 0)


def load_values(path: Path) -> SimValues:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse_values(data)


def parse_values(data: object) -> SimValues:
    if not isinstance(data, Mapping):
        raise ConfigError("the values file: expected a mapping")
    queues = data.get("queues")
    if not isinstance(queues, list) or not queues:
        raise ConfigError("queues: expected a non-empty list of queues")
    defaults = data.get("queueDefaults") or {}
    pools = data.get("pools") or {}
    merged = [_with_defaults(q, defaults, pools) for q in queues]
    policies = queue_policies_from_values({"queues": merged})
    prefetch = {
        p.name: int(m.get("prefetchMultiplier") or 1) for p, m in zip(policies, merged, strict=True)
    }
    return SimValues(poll_interval_s=_poll_interval(data), policies=policies, prefetch=prefetch)


def _poll_interval(data: Mapping[str, Any]) -> float:
    autoscaler = data.get("autoscaler")
    raw = autoscaler.get("pollIntervalSeconds") if isinstance(autoscaler, Mapping) else None
    if raw is None:
        raw = data.get("pollIntervalSeconds")
    if raw is None:
        return DEFAULT_POLL_INTERVAL_S
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        raise ConfigError(f"autoscaler.pollIntervalSeconds: must be a number > 0, got {raw!r}")
    return float(raw)


def _with_defaults(queue: object, defaults: object, pools: object) -> Any:
    if not isinstance(queue, Mapping):
        return queue
    out: dict[str, Any] = dict(defaults) if isinstance(defaults, Mapping) else {}
    for key, value in queue.items():
        if key == "autoscaling" and isinstance(value, Mapping):
            out[key] = {**(out.get(key) or {}), **value}
        else:
            out[key] = value
    pool = str(out.get("pool") or "prefork")
    pool_defaults = pools.get(pool) if isinstance(pools, Mapping) else None
    pool_defaults = pool_defaults if isinstance(pool_defaults, Mapping) else {}
    if out.get("concurrency") is None:
        out["concurrency"] = _pool_concurrency(pool, pool_defaults)
    if out.get("prefetchMultiplier") is None:
        out["prefetchMultiplier"] = pool_defaults.get("prefetchMultiplier") or DEFAULT_PREFETCH.get(
            pool, 1
        )
    return out


def _pool_concurrency(pool: str, defaults: Mapping[str, Any]) -> int:
    if defaults.get("concurrency") is not None:
        return int(defaults["concurrency"])
    requests = (defaults.get("resources") or {}).get("requests") or {}
    cpu = requests.get("cpu")
    if pool == "prefork" and cpu is not None:
        text = str(cpu)
        cores = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
        return max(1, math.ceil(cores))
    return DEFAULT_CONCURRENCY.get(pool, 1)
