"""The controller's configuration: typed, frozen, validated once at load.

The YAML uses the names of the Helm values (camelCase); the dataclasses carry units in their
names. Defaults are the HPA's ``behavior`` defaults plus minReplicas 1, maxReplicas 10,
activationBacklog 0, cooldownSeconds 300, fallbackReplicas null (hold), failureThreshold 3.
Errors name the queue and the field, e.g.
``queues[1] (emails).autoscaling.minReplicas: must be <= maxReplicas (5 > 3)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from contract.connection import DEFAULT_URL, RedisSettings, check_url
from contract.fields import ConfigError, Fields
from contract.pools import Pool
from contract.priority import Priorities, check_steps
from contract.queues import RULE as QUEUE_RULE
from contract.queues import is_queue_name
from scheduler.autoscaler.rules import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    PolicyType,
    QueuePolicy,
    RatePolicy,
    ScalingRules,
    SelectPolicy,
)

__all__ = [
    "ConfigError",
    "ControllerConfig",
    "LeaderElection",
    "PolicyType",
    "Priorities",
    "QueuePolicy",
    "RatePolicy",
    "RedisConfig",
    "ScalingRules",
    "SelectPolicy",
    "load_config",
    "parse_config",
    "queue_policies_from_values",
]

_T = TypeVar("_T")
K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
MAX_WINDOW_S = 3600  # the HPA's limit for stabilizationWindowSeconds
MAX_PERIOD_S = 1800  # the HPA's limit for a policy's periodSeconds


@dataclass(frozen=True)
class RedisConfig:
    url: str = DEFAULT_URL
    password_file: str | None = None

    def settings(self, env: Mapping[str, str], *, url_option: str | None = None) -> RedisSettings:
        """With the environment laid over, by the one precedence of :mod:`contract.connection`."""
        return RedisSettings.from_env(
            env, url=self.url, password_file=self.password_file, url_option=url_option
        )


@dataclass(frozen=True)
class LeaderElection:
    enabled: bool = True
    lease_name: str = "shoal-autoscaler"
    lease_duration_s: int = 15


@dataclass(frozen=True)
class ControllerConfig:
    poll_interval_s: float = 2.0
    namespace: str = "default"
    redis: RedisConfig = field(default_factory=RedisConfig)
    priority: Priorities = field(default_factory=Priorities)
    leader_election: LeaderElection = field(default_factory=LeaderElection)
    metrics_port: int = 9810
    health_port: int = 9811
    queues: tuple[QueuePolicy, ...] = ()

    def queue(self, name: str) -> QueuePolicy:
        for policy in self.queues:
            if policy.name == name:
                return policy
        raise KeyError(name)


def load_config(path: str | Path) -> ControllerConfig:
    """Read and validate the controller's config file; :class:`ConfigError` names the field."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_config(_yaml(text, str(path)))


def parse_config(data: object) -> ControllerConfig:
    top = Fields("", data)
    config = ControllerConfig(
        poll_interval_s=_req(top.number("pollIntervalSeconds", 2.0, positive=True)),
        namespace=_req(top.text("namespace", "default")),
        redis=_redis(top.sub("redis")),
        priority=_priority(top.sub("priority")),
        leader_election=_leader(top.sub("leaderElection")),
        metrics_port=_port(top, "metricsPort", 9810),
        health_port=_port(top, "healthPort", 9811),
        queues=_queues(top, strict=True),
    )
    top.done()
    return config


def queue_policies_from_values(values: Mapping[str, Any]) -> tuple[QueuePolicy, ...]:
    """The queue policies of a Helm values file's ``queues:`` (the same names), each entry
    already resolved as the chart resolves it (:func:`contract.chartvalues.resolve_queues`).

    Keys the chart uses for other things than scaling (resources, env, ...) are allowed at the
    queue level; the ``autoscaling`` block is checked strictly. ``deployment`` is
    ``shoal-worker-<name>`` unless given.
    """
    return _queues(Fields("", {"queues": values.get("queues")}), strict=False)


def _yaml(text: str, where: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML ({exc})") from None


def _req(value: _T | None) -> _T:
    assert value is not None  # the caller passed a default
    return value


def _port(fields: Fields, key: str, default: int) -> int:
    port = _req(fields.integer(key, default))
    if port > 65535:
        raise fields.error(key, f"must be a port from 0 to 65535, got {port}")
    return port


def _redis(fields: Fields) -> RedisConfig:
    url = _req(fields.text("url", RedisConfig.url))
    try:
        check_url(url)
    except ValueError as exc:
        raise fields.error("url", str(exc)) from None
    config = RedisConfig(url=url, password_file=fields.text("passwordFile", None))
    fields.done()
    return config


def _priority(fields: Fields) -> Priorities:
    raw = fields.items("steps") or list(Priorities.steps)
    try:
        steps = check_steps(raw)
    except ValueError as exc:
        raise fields.error("steps", str(exc)) from None
    config = Priorities(steps, _req(fields.text("separator", Priorities.separator)))
    fields.done()
    return config


def _leader(fields: Fields) -> LeaderElection:
    name = _req(fields.text("leaseName", "shoal-autoscaler"))
    if not K8S_NAME.match(name) or len(name) > 253:
        raise fields.error("leaseName", f"expected a Kubernetes name (a-z 0-9 - .), got {name!r}")
    config = LeaderElection(
        enabled=fields.boolean("enabled", True),
        lease_name=name,
        lease_duration_s=_req(fields.integer("leaseDurationSeconds", 15, minimum=2)),
    )
    fields.done()
    return config


def _queues(top: Fields, *, strict: bool) -> tuple[QueuePolicy, ...]:
    policies: list[QueuePolicy] = []
    for index, item in enumerate(top.items("queues")):
        name = item.get("name") if isinstance(item, Mapping) else None
        label = f"queues[{index}] ({name})" if isinstance(name, str) else f"queues[{index}]"
        policy = _queue(Fields(label, item), strict=strict)
        if any(p.name == policy.name for p in policies):
            raise ConfigError(f"{label}.name: duplicate queue name {policy.name!r}")
        policies.append(policy)
    return tuple(policies)


def _queue(fields: Fields, *, strict: bool) -> QueuePolicy:
    name = fields.text("name", None)
    if name is None or not is_queue_name(name):
        raise fields.error("name", f"expected a queue name ({QUEUE_RULE}), got {name!r}")
    pool = Pool(fields.choice("pool", "prefork", ("prefork", "gevent")))
    concurrency = fields.required_integer("concurrency", minimum=1)
    deployment = _req(fields.text("deployment", f"shoal-worker-{name}"))
    policy = _autoscaling(
        fields.sub("autoscaling"),
        name=name,
        pool=pool,
        concurrency=concurrency,
        deployment=deployment,
    )
    if strict:
        fields.done()
    return policy


def _autoscaling(fields: Fields, **queue: Any) -> QueuePolicy:
    policy = QueuePolicy(
        **queue,
        enabled=fields.boolean("enabled", True),
        min_replicas=_req(fields.integer("minReplicas", 1, minimum=0)),
        max_replicas=_req(fields.integer("maxReplicas", 10, minimum=1)),
        target_backlog_per_replica=fields.number("targetBacklogPerReplica", None, positive=True),
        target_latency_s=fields.number("targetLatencySeconds", None, positive=True),
        activation_backlog=_req(fields.integer("activationBacklog", 0)),
        cooldown_s=_req(fields.number("cooldownSeconds", 300.0)),
        fallback_replicas=fields.integer("fallbackReplicas", None),
        failure_threshold=_req(fields.integer("failureThreshold", 3, minimum=1)),
        scale_up=_rules(fields.sub("scaleUp"), DEFAULT_SCALE_UP),
        scale_down=_rules(fields.sub("scaleDown"), DEFAULT_SCALE_DOWN),
    )
    fields.done()
    _check_cross_fields(fields, policy)
    return policy


def _check_cross_fields(fields: Fields, p: QueuePolicy) -> None:
    if p.min_replicas > p.max_replicas:
        raise fields.error(
            "minReplicas", f"must be <= maxReplicas ({p.min_replicas} > {p.max_replicas})"
        )
    if p.fallback_replicas is not None and not (
        p.min_replicas <= p.fallback_replicas <= p.max_replicas
    ):
        raise fields.error(
            "fallbackReplicas",
            f"must be within minReplicas..maxReplicas ({p.min_replicas}..{p.max_replicas}), "
            f"got {p.fallback_replicas}",
        )
    if p.enabled and p.target_backlog_per_replica is None and p.target_latency_s is None:
        raise fields.error(
            "targetBacklogPerReplica", "set targetBacklogPerReplica and/or targetLatencySeconds"
        )


def _rules(fields: Fields, default: ScalingRules) -> ScalingRules:
    window = _req(fields.integer("stabilizationWindowSeconds", default.stabilization_window_s))
    if window > MAX_WINDOW_S:
        raise fields.error("stabilizationWindowSeconds", f"must be <= {MAX_WINDOW_S}, got {window}")
    select = SelectPolicy(
        fields.choice("selectPolicy", default.select_policy.value, tuple(SelectPolicy))
    )
    policies = default.policies
    if fields.has("policies"):
        items = fields.items("policies")
        policies = tuple(
            _rate_policy(Fields(f"{fields.where('policies')}[{i}]", item))
            for i, item in enumerate(items)
        )
    if not policies and select is not SelectPolicy.DISABLED:
        raise fields.error("policies", "needs at least one policy unless selectPolicy is Disabled")
    fields.done()
    return ScalingRules(stabilization_window_s=window, select_policy=select, policies=policies)


def _rate_policy(fields: Fields) -> RatePolicy:
    kind = PolicyType(fields.choice("type", "", tuple(PolicyType)))
    value = fields.required_integer("value", minimum=1)
    period = fields.required_integer("periodSeconds", minimum=1)
    if period > MAX_PERIOD_S:
        raise fields.error("periodSeconds", f"must be <= {MAX_PERIOD_S}, got {period}")
    fields.done()
    return RatePolicy(type=kind, value=value, period_s=period)
