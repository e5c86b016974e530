"""What an SRE sets per queue: the targets, the bounds and the HPA-style ``behavior`` rules.

The policy's own parameter types, beside the policy and as pure as it is (no YAML, no I/O).
Each field is declared once (:mod:`contract.fields`): its YAML key (the Helm values' name), its
Helm values path, its kind and range, its default. :mod:`scheduler.autoscaler.config` reads them
from the config file or a values file with those declarations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from contract.fields import REQUIRED, Kind, Nested, Setting
from contract.kinds import Boolean, Choice, Integer, ListOf, Number, Text
from contract.pools import CONCURRENCY, POOL, Pool
from contract.queues import QueueName

MAX_REPLICAS = 1000
MAX_WINDOW_S = 3600  # the HPA's limit for stabilizationWindowSeconds
MAX_PERIOD_S = 1800  # the HPA's limit for a policy's periodSeconds
DAY_S = 86_400
MAX_STARTUP_S = 3600
T = TypeVar("T")


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

    type: PolicyType = Setting(
        Choice(tuple(PolicyType)),
        REQUIRED,
        "Pods: at most value pods; Percent: at most value % of the current replicas.",
        key="type",
    ).field()
    value: int = Setting(
        Integer(1), REQUIRED, "How many pods (or percent) per period.", key="value"
    ).field()
    period_s: int = Setting(
        Integer(1, MAX_PERIOD_S, unit="s"),
        REQUIRED,
        "The length of the period.",
        key="periodSeconds",
    ).field()


@dataclass(frozen=True)
class ScalingRules:
    """One direction of the HPA's ``behavior``: ``scaleUp`` or ``scaleDown``. A block that leaves
    a key out keeps that direction's default (:data:`DEFAULT_SCALE_UP`, :data:`DEFAULT_SCALE_DOWN`).
    """

    stabilization_window_s: int = Setting(
        Integer(0, MAX_WINDOW_S, unit="s"),
        REQUIRED,
        "Recommendations over this window are considered (the HPA's behavior).",
        key="stabilizationWindowSeconds",
    ).field()
    select_policy: SelectPolicy = Setting(
        Choice(tuple(SelectPolicy)),
        SelectPolicy.MAX,
        "Which policy's limit applies; Disabled: no change in this direction.",
        key="selectPolicy",
    ).field()
    policies: tuple[RatePolicy, ...] = Setting(
        ListOf(Nested(RatePolicy), what="rate policies"),
        (),
        "Rate limits of a change.",
        key="policies",
    ).field()


DEFAULT_SCALE_UP = ScalingRules(
    stabilization_window_s=0,
    policies=(RatePolicy(PolicyType.PERCENT, 100, 15), RatePolicy(PolicyType.PODS, 4, 15)),
)
DEFAULT_SCALE_DOWN = ScalingRules(
    stabilization_window_s=300, policies=(RatePolicy(PolicyType.PERCENT, 100, 15),)
)


def _autoscaling(key: str, kind: Kind[T], default: Any, doc: str) -> Setting[T]:
    """A key of the queue's ``autoscaling`` block, which ``queueDefaults`` gives every queue."""
    return Setting(
        kind,
        default,
        doc,
        key=f"autoscaling.{key}",
        helm=f"queueDefaults.autoscaling.{key}",
    )


@dataclass(frozen=True)
class QueuePolicy:
    """One queue: its workers and its ``autoscaling`` block."""

    name: str = Setting(QueueName(), REQUIRED, "The Celery queue.", key="name",
                        helm="queues[].name").field()  # fmt: skip
    concurrency: int = dataclasses.replace(CONCURRENCY, default=REQUIRED, helm=None).field()
    """Tasks one replica runs at once (the pool size). Required here: the chart resolves a
    queue's null to its pool's (the worker's declaration pins the chart's value)."""
    pool: Pool = POOL.field()
    deployment: str = Setting(
        Text(), "", "The worker Deployment; empty: shoal-worker-<name>.", key="deployment"
    ).field()
    enabled: bool = _autoscaling(
        "enabled", Boolean(), True, "The autoscaler sets this queue's replicas."
    ).field()
    min_replicas: int = _autoscaling(
        "minReplicas", Integer(0, MAX_REPLICAS), 1, "Fewest replicas; 0 allows scale to zero."
    ).field()
    max_replicas: int = _autoscaling(
        "maxReplicas", Integer(1, MAX_REPLICAS), 10, "Most replicas."
    ).field()
    target_backlog_per_replica: float | None = _autoscaling(
        "targetBacklogPerReplica",
        Number(0, exclusive_minimum=True),
        None,
        "Tasks waiting or running per replica to aim for.",
    ).field()
    target_latency_s: float | None = _autoscaling(
        "targetLatencySeconds",
        Number(0, exclusive_minimum=True, unit="s"),
        None,
        "Keep the oldest waiting task younger than this.",
    ).field()
    activation_backlog: int = _autoscaling(
        "activationBacklog", Integer(0), 0, "Backlog at or below which 0 -> 1 does not happen."
    ).field()
    cooldown_s: float = _autoscaling(
        "cooldownSeconds",
        Number(0, DAY_S, whole=True, unit="s"),
        300.0,
        "Idle time before going to zero.",
    ).field()
    pod_startup_s: float = _autoscaling(
        "podStartupSeconds",
        Number(0, MAX_STARTUP_S, unit="s"),
        10.0,
        "From a scale-up to a new replica taking tasks: a queue at zero with delayed tasks "
        "is woken this long, plus the poll interval, before the first is due.",
    ).field()
    fallback_replicas: int | None = _autoscaling(
        "fallbackReplicas",
        Integer(0, MAX_REPLICAS),
        None,
        "Replicas after failureThreshold failed observations; null holds the current count.",
    ).field()
    failure_threshold: int = _autoscaling(
        "failureThreshold",
        Integer(1, MAX_REPLICAS),
        3,
        "Failed observations in a row before fallbackReplicas applies.",
    ).field()
    scale_up: ScalingRules = _autoscaling(
        "scaleUp", Nested(ScalingRules), DEFAULT_SCALE_UP, "How fast replicas may rise."
    ).field()
    scale_down: ScalingRules = _autoscaling(
        "scaleDown", Nested(ScalingRules), DEFAULT_SCALE_DOWN, "How fast replicas may fall."
    ).field()
