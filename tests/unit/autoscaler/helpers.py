"""Builders shared by the autoscaler unit tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from scheduler.autoscaler.config import PolicyType, QueuePolicy, RatePolicy, ScalingRules

NO_WINDOWS = {
    "scale_up": ScalingRules(0, policies=(RatePolicy(PolicyType.PERCENT, 1000, 15),)),
    "scale_down": ScalingRules(0, policies=(RatePolicy(PolicyType.PERCENT, 100, 15),)),
}


def policy(**overrides: Any) -> QueuePolicy:
    """A queue policy: concurrency 10, targetBacklogPerReplica 100, HPA default behaviour."""
    base = QueuePolicy(name="q", concurrency=10, target_backlog_per_replica=100.0)
    return replace(base, **overrides)


def unlimited(**overrides: Any) -> QueuePolicy:
    """As :func:`policy` with no stabilization and (nearly) no rate limit."""
    return policy(**{**NO_WINDOWS, **overrides})
