"""The dry-run actuator: prints each decision and remembers the replicas it would have set."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from scheduler.autoscaler.actuator import ScaleRequest
from scheduler.autoscaler.rules import QueuePolicy


class DryRunActuator:
    def __init__(self, start: Mapping[str, int] | None = None, out: TextIO | None = None) -> None:
        self.replicas: dict[str, int] = dict(start or {})
        self.out = out or sys.stdout

    def current(self, queues: Sequence[QueuePolicy]) -> dict[str, int]:
        return {q.name: self.replicas.setdefault(q.name, q.min_replicas) for q in queues}

    def scale(self, request: ScaleRequest) -> None:
        name = request.queue.name
        print(
            f"dry-run: {name} {request.current} -> {request.desired} "
            f"({request.reason}: {request.detail})",
            file=self.out,
            flush=True,
        )
        self.replicas[name] = request.desired

    def close(self) -> None:
        pass
