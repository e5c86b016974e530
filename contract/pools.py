"""The worker pools and what each implies by default. Pure."""

from __future__ import annotations

import os
from enum import StrEnum

from contract.fields import Setting
from contract.kinds import Choice, Integer


class Pool(StrEnum):
    PREFORK = "prefork"
    """One process per slot: CPU-bound tasks."""
    GEVENT = "gevent"
    """Greenlets in one process: I/O-bound tasks."""


GEVENT_CONCURRENCY = 200


def default_concurrency(pool: Pool, cpus: int | None = None) -> int:
    """The pool size when none is set: the CPU count for prefork, 200 greenlets for gevent."""
    if pool is Pool.GEVENT:
        return GEVENT_CONCURRENCY
    return cpus or os.cpu_count() or 1


def default_prefetch_multiplier(pool: Pool) -> int:
    """Celery's prefetch per slot: 1 for prefork (no task waits behind a long one), 4 for
    gevent (greenlets are cheap; a fetch round trip per task would cap throughput)."""
    return 1 if pool is Pool.PREFORK else 4


POOL = Setting(
    Choice(tuple(Pool), fold=str.lower),
    Pool.PREFORK,
    "prefork (CPU-bound) or gevent (I/O-bound).",
    key="pool",
    env="SHOAL_POOL",
    options=("--pool", "-P"),
    helm="queues[].pool",
)
CONCURRENCY = Setting(
    Integer(1, 10_000),
    None,
    "Tasks one replica runs at once (the pool size); default: the CPUs (prefork), 200 (gevent).",
    key="concurrency",
    env="SHOAL_CONCURRENCY",
    options=("--concurrency", "-c"),
    helm="queues[].concurrency",
)
PREFETCH_MULTIPLIER = Setting(
    Integer(1, 1000),
    None,
    "Tasks reserved per pool slot; default: 1 for prefork, 4 for gevent.",
    key="prefetchMultiplier",
    env="SHOAL_PREFETCH_MULTIPLIER",
    helm="queues[].prefetchMultiplier",
)
