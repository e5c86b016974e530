"""The worker pools and what each implies by default. Pure."""

from __future__ import annotations

import os
from enum import StrEnum


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
