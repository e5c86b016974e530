"""Leader election with a Lease through the official client (see :mod:`.lease` for the logic)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from scheduler.autoscaler import lease

log = logging.getLogger("shoal.autoscaler.lease")
TIMEOUT_S = 5.0  # an API call never holds the loop longer


def micro_time(at: datetime) -> str:
    """RFC 3339 with microseconds (a MicroTime), never without the fraction."""
    if at.microsecond == 0:
        at = at.replace(microsecond=1)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_of(obj: Any) -> lease.LeaseRecord:
    spec = obj.spec
    renew = spec.renew_time
    return lease.LeaseRecord(
        holder=spec.holder_identity,
        renew_time=renew.isoformat() if isinstance(renew, datetime) else renew,
        duration_s=int(spec.lease_duration_seconds or 15),
        transitions=int(spec.lease_transitions or 0),
        resource_version=obj.metadata.resource_version,
    )


class LeaseElector:
    """Call :meth:`is_leader` every loop; it reads, renews or takes the lease as needed."""

    def __init__(
        self,
        api: k8s.CoordinationV1Api,
        *,
        namespace: str,
        name: str,
        identity: str,
        duration_s: int,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api: Any = api  # dict bodies: the client serialises them as they are
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration_s = duration_s
        self.clock = clock
        self.wall = wall
        self.view: lease.LeaseView | None = None
        self.renewed_at: float | None = None

    def is_leader(self) -> bool:
        now = self.clock()
        try:
            self._step(now)
        except ApiException as exc:
            log.warning("lease %s: API error %s %s", self.name, exc.status, exc.reason)
        except Exception as exc:
            log.warning("lease %s: %s", self.name, exc)
        return lease.still_leader(self.renewed_at, self.duration_s, self.clock())

    def _step(self, now: float) -> None:
        try:
            record: lease.LeaseRecord | None = record_of(
                self.api.read_namespaced_lease(
                    self.name, self.namespace, _request_timeout=TIMEOUT_S
                )
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            record = None
        self.view = lease.observe(self.view, record, now)
        todo = lease.action(self.view, self.identity, now)
        if todo is lease.LeaseAction.WAIT:
            if self.renewed_at is not None:
                log.info("lease %s is held by %s", self.name, record and record.holder)
            self.renewed_at = None
            return
        if self._write(todo, record):
            self.renewed_at = now

    def _write(self, todo: lease.LeaseAction, record: lease.LeaseRecord | None) -> bool:
        stamp = micro_time(self.wall())
        transitions = record.transitions if record else 0
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.duration_s,
            "renewTime": stamp,
            "leaseTransitions": transitions,
        }
        if todo is not lease.LeaseAction.RENEW:
            spec["acquireTime"] = stamp
            spec["leaseTransitions"] = transitions + (1 if record else 0)
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": spec}
        try:
            if todo is lease.LeaseAction.CREATE:
                self.api.create_namespaced_lease(
                    self.namespace,
                    k8s.V1Lease.from_dict({**body, "metadata": metadata}),
                    _request_timeout=TIMEOUT_S,
                )
            else:
                assert record is not None
                metadata["resourceVersion"] = record.resource_version
                self.api.replace_namespaced_lease(
                    self.name,
                    self.namespace,
                    k8s.V1Lease.from_dict({**body, "metadata": metadata}),
                    _request_timeout=TIMEOUT_S,
                )
        except ApiException as exc:
            if exc.status == 409:  # someone else wrote first
                return False
            raise
        if todo is not lease.LeaseAction.RENEW:
            log.info("lease %s: now held by %s (%s)", self.name, self.identity, todo)
        return True

    def release(self) -> None:
        """Give the lease up on a clean stop, so another replica takes over at once."""
        if self.renewed_at is None or self.view is None or self.view.record is None:
            return
        try:
            obj = self.api.read_namespaced_lease(
                self.name, self.namespace, _request_timeout=TIMEOUT_S
            )
            if obj.spec.holder_identity == self.identity:
                obj.spec.holder_identity = None
                self.api.replace_namespaced_lease(self.name, self.namespace, obj)
        except Exception as exc:
            log.info("lease %s not released: %s", self.name, exc)
        self.renewed_at = None
