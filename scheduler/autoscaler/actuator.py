"""Act: the interface every actuator implements, and the pure choices they share.

An actuator reports the replicas each queue has and sets them. Scale-in comes with the
in-flight count of every worker (worker id == pod name), so the actuator removes idle workers
first: the Kubernetes actuator through ``controller.kubernetes.io/pod-deletion-cost``, the local
one by stopping the idlest processes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from scheduler.autoscaler.model import Reason
from scheduler.autoscaler.rules import QueuePolicy

DELETION_COST_MAX = 2_147_483_647  # the annotation is an int32


class ActuatorError(Exception):
    """The actuator could not read or set replicas (the controller retries)."""


@dataclass(frozen=True)
class ScaleRequest:
    queue: QueuePolicy
    current: int
    desired: int
    reason: Reason
    detail: str
    in_flight_by_worker: Mapping[str, int] = field(default_factory=dict)
    """Tasks each worker holds; filled in for a scale-in."""


class Actuator(Protocol):
    def current(self, queues: Sequence[QueuePolicy]) -> dict[str, int]:
        """Replicas per queue now; a queue with nothing to scale (no Deployment) is left out.
        Raises :class:`ActuatorError` when it cannot tell at all."""
        ...

    def scale(self, request: ScaleRequest) -> None:
        """Set ``request.desired`` replicas; raises :class:`ActuatorError` on failure."""
        ...

    def close(self) -> None: ...


def idlest_first(workers: Iterable[str], in_flight: Mapping[str, int]) -> list[str]:
    """Workers ordered for removal: fewest tasks held first, then by name (deterministic)."""
    return sorted(workers, key=lambda w: (in_flight.get(w, 0), w))


def deletion_cost(tasks_held: int) -> int:
    """``controller.kubernetes.io/pod-deletion-cost`` for a pod holding ``tasks_held`` tasks:
    Kubernetes deletes the lowest cost first, so an idle pod (0) goes before a busy one."""
    return max(0, min(tasks_held, DELETION_COST_MAX))


def deletion_costs(pods: Iterable[str], in_flight: Mapping[str, int]) -> dict[str, int]:
    return {pod: deletion_cost(in_flight.get(pod, 0)) for pod in pods}
