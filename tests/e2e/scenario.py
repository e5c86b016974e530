"""Values files and task publishing shared by the end-to-end scenarios."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery

CPU_QUEUE = "e2e-cpu"  # prefork
IO_QUEUE = "e2e-io"  # gevent
RECORD_LIST = "shoal:test:record"


def fast_policy(**over: Any) -> dict[str, Any]:
    """An autoscaling block with short windows so a scenario fits in a test run."""
    policy: dict[str, Any] = {
        "enabled": True,
        "minReplicas": 0,
        "maxReplicas": 4,
        "targetBacklogPerReplica": 100,
        "activationBacklog": 0,
        "cooldownSeconds": 10,
        "failureThreshold": 3,
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 5}],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": 5,
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 5}],
        },
    }
    policy.update(over)
    return policy


def two_queues(
    redis_url: str,
    *,
    cpu: dict[str, Any] | None = None,
    io: dict[str, Any] | None = None,
    beat: dict[str, Any] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """Values of the chart: one prefork and one gevent queue, both autoscaled from zero."""
    values: dict[str, Any] = {
        # kwok never pulls images; any reference does.
        "image": {"repository": "registry.invalid/shoal", "tag": "e2e"},
        "redis": {"url": redis_url},
        "queues": [
            {
                "name": CPU_QUEUE,
                "pool": "prefork",
                "concurrency": 2,
                "drainTimeoutSeconds": 20,
                "autoscaling": fast_policy(**(cpu or {})),
            },
            {
                "name": IO_QUEUE,
                "pool": "gevent",
                "concurrency": 50,
                "drainTimeoutSeconds": 20,
                "autoscaling": fast_policy(**{"targetBacklogPerReplica": 200, **(io or {})}),
            },
        ],
        "workers": {"terminationGraceMarginSeconds": 5},
        "beat": beat or {"enabled": False},
        "autoscaler": {
            "replicas": 2,
            "pollIntervalSeconds": 1,
            "rollOnConfigChange": False,
            "leaderElection": {"enabled": True, "leaseDurationSeconds": 6},
        },
    }
    for key, value in top.items():
        values[key] = copy.deepcopy(value)
    return values


@contextmanager
def client(redis_url: str) -> Iterator[Celery]:
    """A stock Celery client, as an application team would publish."""
    app = Celery("e2e-client", broker=redis_url, backend=redis_url, set_as_current=False)
    app.conf.task_serializer = "json"
    try:
        yield app
    finally:
        app.close()


def publish_records(app: Celery, queue: str, tags: list[str], seconds: float = 0.0) -> None:
    with app.producer_or_acquire() as producer:
        for tag in tags:
            app.send_task("shoal.record", args=[tag, seconds], queue=queue, producer=producer)


def publish(app: Celery, queue: str, name: str, args_list: list[list[Any]]) -> None:
    with app.producer_or_acquire() as producer:
        for args in args_list:
            app.send_task(name, args=args, queue=queue, producer=producer)
