"""The pure choices of the actuators: who goes first on scale-in, deletion costs, retries."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from scheduler.autoscaler.actuator import (
    DELETION_COST_MAX,
    ScaleRequest,
    deletion_cost,
    deletion_costs,
    idlest_first,
)
from scheduler.autoscaler.config import QueuePolicy
from scheduler.autoscaler.kube_actuator import event_body, retryable, selector_of
from scheduler.autoscaler.kube_lease import micro_time
from scheduler.autoscaler.model import Reason


def test_idle_workers_go_first_then_by_name() -> None:
    held = {"w-a": 3, "w-b": 0, "w-c": 1}
    assert idlest_first(["w-a", "w-b", "w-c", "w-d"], held) == ["w-b", "w-d", "w-c", "w-a"]


def test_deletion_cost_is_the_in_flight_count_clamped_to_int32() -> None:
    assert deletion_costs(["p1", "p2", "p3"], {"p1": 7, "p3": 0}) == {"p1": 7, "p2": 0, "p3": 0}
    assert deletion_cost(-4) == 0
    assert deletion_cost(10**12) == DELETION_COST_MAX


@pytest.mark.parametrize(
    ("exc", "again"),
    [
        (ApiException(status=409), True),
        (ApiException(status=429), True),
        (ApiException(status=503), True),
        (ApiException(status=404), False),
        (ApiException(status=403), False),
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (ValueError("bug"), False),
    ],
)
def test_conflicts_throttling_and_network_errors_are_retried(
    exc: BaseException, again: bool
) -> None:
    assert retryable(exc) is again


def test_label_selector_and_event_carry_the_reason() -> None:
    assert selector_of({"queue": "emails", "app": "shoal"}) == "app=shoal,queue=emails"
    request = ScaleRequest(
        QueuePolicy(name="emails", concurrency=1), 2, 6, Reason.BACKLOG, "waiting 600 -> 6"
    )
    body = event_body(namespace="ns", deployment="d", uid="u", request=request, instance="me")
    assert body["reason"] == "SuccessfulRescale"
    assert body["message"] == "New size: 6 (was 2); reason: backlog: waiting 600 -> 6"
    assert body["involvedObject"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "d",
        "namespace": "ns",
        "uid": "u",
    }


def test_micro_time_always_has_six_fraction_digits() -> None:
    from datetime import UTC, datetime

    assert micro_time(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2030-01-02T03:04:05.000001Z"
    assert (
        micro_time(datetime(2030, 1, 2, 3, 4, 5, 250, tzinfo=UTC)) == "2030-01-02T03:04:05.000250Z"
    )
