"""What an SRE sets per queue: the targets, the bounds and the HPA-style ``behavior`` rules.

The policy's own parameter types, beside the policy and as pure as it is (no YAML, no I/O);
:mod:`scheduler.autoscaler.config` reads them from the config file or a values file.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from contract.pools import Pool


class PolicyType(StrEnum):
    PODS = "Pods"
    PERCENT = "Percent"


class SelectPolicy(StrEnum):
    MAX = "Max"
    MIN = "Min"
    DISABLED = "Disabled"


@dataclass(frozen=True)
class RatePolicy:
    """At most ``value`` Pods (or ``value`` percent) of change per ``period_s``."""

    type: PolicyType
    value: int
    period_s: int


@dataclass(frozen=True)
class ScalingRules:
    """One direction of the HPA's ``behavior``: ``scaleUp`` or ``scaleDown``."""

    stabilization_window_s: int
    select_policy: SelectPolicy = SelectPolicy.MAX
    policies: tuple[RatePolicy, ...] = ()


DEFAULT_SCALE_UP = ScalingRules(
    stabilization_window_s=0,
    policies=(RatePolicy(PolicyType.PERCENT, 100, 15), RatePolicy(PolicyType.PODS, 4, 15)),
)
DEFAULT_SCALE_DOWN = ScalingRules(
    stabilization_window_s=300, policies=(RatePolicy(PolicyType.PERCENT, 100, 15),)
)


@dataclass(frozen=True)
class QueuePolicy:
    """One queue: its workers and its ``autoscaling`` block."""

    name: str
    concurrency: int
    """Tasks one replica runs at once (the pool size)."""
    pool: Pool = Pool.PREFORK
    deployment: str = ""
    enabled: bool = True
    min_replicas: int = 1
    max_replicas: int = 10
    target_backlog_per_replica: float | None = None
    target_latency_s: float | None = None
    activation_backlog: int = 0
    cooldown_s: float = 300.0
    fallback_replicas: int | None = None
    failure_threshold: int = 3
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN
