"""The controller's configuration: typed, frozen, validated once at load.

The YAML uses the names of the Helm values (camelCase); the dataclasses carry units in their
names. Defaults are the HPA's ``behavior`` defaults plus minReplicas 1, maxReplicas 10,
activationBacklog 0, cooldownSeconds 300, fallbackReplicas null (hold), failureThreshold 3.
Errors name the queue and the field, e.g.
``queues[1] (emails).autoscaling.minReplicas: must be <= maxReplicas (5 > 3)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.connection import PASSWORD_FILE, URL, RedisSettings
from contract.fields import (
    ConfigError,
    Nested,
    Setting,
    as_mapping,
    declared,
    join,
    read_mapping,
    shown,
)
from contract.kinds import Boolean, Integer, Number, Text, container_port, port
from contract.priority import Priorities
from contract.yamlfile import YamlError, load_strict
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
    "DEFAULT_SCALE_DOWN",
    "DEFAULT_SCALE_UP",
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

K8S_NAME = r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


@dataclass(frozen=True)
class RedisConfig:
    url: str = URL.field()
    password_file: str | None = PASSWORD_FILE.field()

    def settings(self, env: Mapping[str, str], *, url_option: str | None = None) -> RedisSettings:
        """With the environment laid over, by the one precedence of :mod:`contract.connection`."""
        return RedisSettings.from_env(
            env, url=self.url, password_file=self.password_file, url_option=url_option
        )


@dataclass(frozen=True)
class LeaderElection:
    enabled: bool = Setting(
        Boolean(),
        True,
        "Only the Lease holder acts.",
        key="enabled",
        helm="autoscaler.leaderElection.enabled",
    ).field()
    lease_name: str = Setting(
        Text(pattern=K8S_NAME, rule="a Kubernetes name (a-z 0-9 - .)"),
        "shoal-autoscaler",
        "The Lease's name (the chart: <fullname>-autoscaler).",
        key="leaseName",
    ).field()
    lease_duration_s: int = Setting(
        Integer(5, 300, unit="s"),
        15,
        "A standby takes over within this when the holder is gone.",
        key="leaseDurationSeconds",
        helm="autoscaler.leaderElection.leaseDurationSeconds",
    ).field()


@dataclass(frozen=True)
class ControllerConfig:
    poll_interval_s: float = Setting(
        Number(0, 300, exclusive_minimum=True, unit="s"),
        2.0,
        "How often every queue is observed and decided.",
        key="pollIntervalSeconds",
        helm="autoscaler.pollIntervalSeconds",
    ).field()
    namespace: str = Setting(
        Text(min_length=1),
        "default",
        "The namespace of the worker Deployments (the chart: the release's).",
        key="namespace",
    ).field()
    redis: RedisConfig = Setting(
        Nested(RedisConfig), RedisConfig(), "Where Redis is.", key="redis"
    ).field()
    priority: Priorities = Setting(
        Nested(Priorities), Priorities(), "Kombu's priority lists.", key="priority"
    ).field()
    leader_election: LeaderElection = Setting(
        Nested(LeaderElection),
        LeaderElection(),
        "One replica acts, the others stand by.",
        key="leaderElection",
    ).field()
    metrics_port: int = Setting(
        port(),
        9810,
        "The Prometheus metrics port (0: off).",
        key="metricsPort",
        options=("--metrics-port",),
        helm=container_port("autoscaler.metricsPort"),
    ).field()
    health_port: int = Setting(
        port(),
        9811,
        "The /livez and /readyz port (0: off).",
        key="healthPort",
        options=("--health-port",),
        helm=container_port("autoscaler.healthPort"),
    ).field()
    queues: tuple[QueuePolicy, ...] = ()

    def queue(self, name: str) -> QueuePolicy:
        for policy in self.queues:
            if policy.name == name:
                return policy
        raise KeyError(name)


def load_config(path: str | Path) -> ControllerConfig:
    """Read and validate the controller's config file; :class:`ConfigError` names the field
    (or, for a key given twice in one mapping, the key and its lines)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read ({exc.strerror})") from None
    try:
        data = load_strict(text)
    except YamlError as exc:
        raise ConfigError(str(path), str(exc)) from None
    return parse_config(data)


def parse_config(data: object) -> ControllerConfig:
    values = read_mapping(declared(ControllerConfig), data, "", extra=("queues",))
    queues = _queues(as_mapping(data, "the file").get("queues"), strict=True)
    return ControllerConfig(**values, queues=queues)


def queue_policies_from_values(values: Mapping[str, Any]) -> tuple[QueuePolicy, ...]:
    """The queue policies of a Helm values file's ``queues:`` (the same names), each entry
    already resolved as the chart resolves it (:func:`contract.chartvalues.resolve_queues`).

    Keys the chart uses for other things than scaling (resources, env, ...) are allowed at the
    queue level; the ``autoscaling`` block is checked strictly. ``deployment`` is
    ``shoal-worker-<name>`` unless given.
    """
    return _queues(values.get("queues"), strict=False)


def _queues(items: object, *, strict: bool) -> tuple[QueuePolicy, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise ConfigError("queues", f"expected a list, got {shown(items)}")
    policies: list[QueuePolicy] = []
    for index, item in enumerate(items):
        name = item.get("name") if isinstance(item, Mapping) else None
        label = f"queues[{index}] ({name})" if isinstance(name, str) else f"queues[{index}]"
        policy = _queue(item, label, strict=strict)
        if any(p.name == policy.name for p in policies):
            raise ConfigError(join(label, "name"), f"duplicate queue name {policy.name!r}")
        policies.append(policy)
    return tuple(policies)


def _queue(item: object, where: str, *, strict: bool) -> QueuePolicy:
    values = read_mapping(declared(QueuePolicy), item, where, strict=strict)
    values["deployment"] = values["deployment"] or f"shoal-worker-{values['name']}"
    policy = QueuePolicy(**values)
    _check_cross_fields(join(where, "autoscaling"), policy)
    return policy


def _check_cross_fields(where: str, p: QueuePolicy) -> None:
    if p.min_replicas > p.max_replicas:
        raise ConfigError(
            join(where, "minReplicas"),
            f"must be <= maxReplicas ({p.min_replicas} > {p.max_replicas})",
        )
    if p.fallback_replicas is not None and not (
        p.min_replicas <= p.fallback_replicas <= p.max_replicas
    ):
        raise ConfigError(
            join(where, "fallbackReplicas"),
            f"must be within minReplicas..maxReplicas ({p.min_replicas}..{p.max_replicas}), "
            f"got {p.fallback_replicas}",
        )
    if p.enabled and p.target_backlog_per_replica is None and p.target_latency_s is None:
        raise ConfigError(
            join(where, "targetBacklogPerReplica"),
            "set targetBacklogPerReplica and/or targetLatencySeconds",
        )
    for key, rules in (("scaleUp", p.scale_up), ("scaleDown", p.scale_down)):
        if not rules.policies and rules.select_policy is not SelectPolicy.DISABLED:
            raise ConfigError(
                join(where, f"{key}.policies"),
                "needs at least one policy unless selectPolicy is Disabled",
            )
