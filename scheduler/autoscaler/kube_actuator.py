"""The Kubernetes actuator: the ``scale`` subresource of each queue's Deployment.

Before a scale-in it writes ``controller.kubernetes.io/pod-deletion-cost`` on the Deployment's
pods from each pod's in-flight count (pod name == worker id), so the ReplicaSet removes idle
pods first. Each change is recorded as a Kubernetes Event on the Deployment with the reason.
Conflicts (409), throttling (429), server errors and network errors are retried with a jittered
exponential backoff; anything else becomes an :class:`ActuatorError` for the controller.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from contract.backoff import compute_backoff
from scheduler.autoscaler.actuator import ActuatorError, ScaleRequest, deletion_costs

log = logging.getLogger("shoal.autoscaler.kubernetes")

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
RETRY_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
COMPONENT = "shoal-autoscaler"
MERGE_PATCH = "application/merge-patch+json"
_T = TypeVar("_T")


def load_credentials() -> k8s.ApiClient:
    """In-cluster service account when running in a pod, else the local kubeconfig."""
    try:
        k8s_config.load_incluster_config()  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException:
        k8s_config.load_kube_config()  # type: ignore[no-untyped-call]
    return k8s.ApiClient()


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, ApiException):
        return exc.status in RETRY_STATUSES or exc.status == 0
    return isinstance(exc, OSError | TimeoutError) or type(exc).__module__.startswith("urllib3")


def selector_of(match_labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


def event_body(
    *, namespace: str, deployment: str, uid: str | None, request: ScaleRequest, instance: str
) -> dict[str, Any]:
    """A core/v1 Event on the Deployment, like the HPA's ``SuccessfulRescale``."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{deployment}.", "namespace": namespace},
        "involvedObject": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment,
            "namespace": namespace,
            **({"uid": uid} if uid else {}),
        },
        "type": "Normal",
        "reason": "SuccessfulRescale",
        "message": (
            f"New size: {request.desired} (was {request.current}); reason: {request.reason}: "
            f"{request.detail}"
        )[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class KubeActuator:
    def __init__(
        self,
        api_client: k8s.ApiClient,
        *,
        namespace: str,
        identity: str = COMPONENT,
        attempts: int = 5,
        request_timeout_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.apps: Any = k8s.AppsV1Api(api_client)
        self.core: Any = k8s.CoreV1Api(api_client)
        self.namespace = namespace
        self.identity = identity
        self.attempts = attempts
        self.request_timeout_s = request_timeout_s
        self.sleep = sleep
        self.rand = rand

    def _call(self, what: str, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        kwargs.setdefault("_request_timeout", self.request_timeout_s)
        for attempt in range(self.attempts):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if not retryable(exc) or attempt == self.attempts - 1:
                    raise ActuatorError(f"{what}: {_describe(exc)}") from exc
                delay = compute_backoff(
                    attempt, base_s=0.2, factor=2.0, max_backoff_s=5.0, jitter=True, rand=self.rand
                )
                log.info("%s: %s; retry in %.2fs", what, _describe(exc), delay)
                self.sleep(delay)
        raise AssertionError("unreachable")

    def current(self, queues: Sequence[Any]) -> dict[str, int]:
        """Replicas of every queue's Deployment, from one list call (not one call per queue).

        A queue whose Deployment does not exist is left out (the controller skips it)."""
        deployments = self._call(
            "list deployments", self.apps.list_namespaced_deployment, self.namespace
        ).items
        replicas = {d.metadata.name: int(d.spec.replicas or 0) for d in deployments}
        missing = [q.deployment for q in queues if q.deployment not in replicas]
        if missing:
            log.warning("no such Deployment in %s: %s", self.namespace, ", ".join(missing))
        return {q.name: replicas[q.deployment] for q in queues if q.deployment in replicas}

    def scale(self, request: ScaleRequest) -> None:
        name = request.queue.deployment
        deployment = self._call(
            f"read {name}", self.apps.read_namespaced_deployment, name, self.namespace
        )
        if request.desired < request.current:
            self._mark_deletion_costs(deployment, request.in_flight_by_worker)
        self._call(
            f"scale {name}",
            self.apps.patch_namespaced_deployment_scale,
            name,
            self.namespace,
            {"spec": {"replicas": request.desired}},
            _content_type=MERGE_PATCH,
        )
        log.info("%s: %d -> %d (%s)", name, request.current, request.desired, request.reason)
        body = event_body(
            namespace=self.namespace,
            deployment=name,
            uid=deployment.metadata.uid,
            request=request,
            instance=self.identity,
        )
        try:
            event = k8s.CoreV1Event.from_dict(body)
            self._call(
                f"event for {name}", self.core.create_namespaced_event, self.namespace, event
            )
        except ActuatorError as exc:  # the scale happened; a lost event is only logged
            log.warning("%s", exc)

    def _mark_deletion_costs(self, deployment: Any, in_flight: Mapping[str, int]) -> None:
        labels = deployment.spec.selector.match_labels or {}
        pods = self._call(
            "list pods",
            self.core.list_namespaced_pod,
            self.namespace,
            label_selector=selector_of(labels),
        ).items
        live = [p for p in pods if p.metadata.deletion_timestamp is None]
        costs = deletion_costs((p.metadata.name for p in live), in_flight)
        for pod in live:
            cost = str(costs[pod.metadata.name])
            if (pod.metadata.annotations or {}).get(DELETION_COST) == cost:
                continue
            patch = {"metadata": {"annotations": {DELETION_COST: cost}}}
            try:
                self._call(
                    f"annotate {pod.metadata.name}",
                    self.core.patch_namespaced_pod,
                    pod.metadata.name,
                    self.namespace,
                    patch,
                    _content_type=MERGE_PATCH,
                )
            except ActuatorError as exc:  # a pod may go away meanwhile; scale anyway
                log.info("%s", exc)

    def close(self) -> None:
        pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"API error {exc.status} {exc.reason}"
    return f"{type(exc).__name__}: {exc}"
