"""Observe: the interface every queue source implements. Measuring only, never deciding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from scheduler.autoscaler.model import Reading


class QueueSource(Protocol):
    def observe(self, queues: Sequence[str]) -> dict[str, Reading]:
        """One reading per queue, all taken at once; a failure gives ``Reading.failed``."""
        ...

    def close(self) -> None: ...
