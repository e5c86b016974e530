"""The control loop with a scripted source and in-memory actuators (no Redis, no Kubernetes)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from scheduler.autoscaler.actuator import ActuatorError, ScaleRequest
from scheduler.autoscaler.config import ControllerConfig, QueuePolicy, parse_config
from scheduler.autoscaler.controller import Controller
from scheduler.autoscaler.dry_run import DryRunActuator
from scheduler.autoscaler.health import Liveness
from scheduler.autoscaler.metrics import ControllerMetrics
from scheduler.autoscaler.model import Reading, Reason
from scheduler.autoscaler.reload import ConfigWatcher
from scheduler.autoscaler.upkeep import Upkeep

CONFIG_YAML = """
pollIntervalSeconds: 2
queues:
  - name: emails
    concurrency: 10
    autoscaling:
      minReplicas: 0
      maxReplicas: {max}
      targetBacklogPerReplica: 100
      scaleDown: {{stabilizationWindowSeconds: 0}}
"""


def config(max_replicas: int = 10) -> ControllerConfig:
    import yaml

    return parse_config(yaml.safe_load(CONFIG_YAML.format(max=max_replicas)))


class ScriptedSource:
    """Returns the readings it is given, in order; the last one repeats."""

    def __init__(self, *readings: Reading) -> None:
        self.readings = list(readings)

    def observe(self, queues: Sequence[str]) -> dict[str, Reading]:
        reading = self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]
        return {q: reading for q in queues}

    def close(self) -> None:
        pass


class Recorder(DryRunActuator):
    def __init__(self, start: Mapping[str, int], *, fail_scale: bool = False) -> None:
        super().__init__(start, out=io.StringIO())
        self.requests: list[ScaleRequest] = []
        self.fail_scale = fail_scale

    def scale(self, request: ScaleRequest) -> None:
        self.requests.append(request)
        if self.fail_scale:
            raise ActuatorError("API error 503 Service Unavailable")
        super().scale(request)


class Unreadable(DryRunActuator):
    def current(self, queues: Sequence[QueuePolicy]) -> dict[str, int]:
        raise ActuatorError("API error 500")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(source: Any, actuator: Any, **kw: Any) -> Controller:
    return Controller(config=config(), source=source, actuator=actuator, clock=Clock(), **kw)


def test_a_pass_observes_decides_and_acts() -> None:
    actuator = Recorder({"emails": 1})
    controller = make(ScriptedSource(Reading(backlog=300)), actuator)
    (outcome,) = controller.step()
    assert (outcome.decision.desired, outcome.acted) == (3, True)
    assert actuator.replicas == {"emails": 3}


def test_a_failed_observation_holds_and_never_calls_the_actuator() -> None:
    actuator = Recorder({"emails": 4})
    controller = make(ScriptedSource(Reading.failed("ConnectionError: refused")), actuator)
    for _ in range(5):
        (outcome,) = controller.step()
        assert outcome.decision.desired == 4
        assert outcome.decision.reason is Reason.OBSERVATION_FAILED
        assert outcome.error == "ConnectionError: refused"
    assert actuator.requests == []


def test_unreadable_replicas_hold_every_queue_without_crashing() -> None:
    controller = make(ScriptedSource(Reading(backlog=5000)), Unreadable())
    assert controller.step() == []


def test_a_failed_scale_is_reported_and_forgotten_by_the_rate_policies() -> None:
    actuator = Recorder({"emails": 1}, fail_scale=True)
    controller = make(ScriptedSource(Reading(backlog=300)), actuator)
    (outcome,) = controller.step()
    assert outcome.error == "API error 503 Service Unavailable" and not outcome.acted
    assert controller.states["emails"].events == ()


def test_scale_in_carries_each_workers_in_flight_count() -> None:
    actuator = Recorder({"emails": 5})
    held = {"emails-a": 10, "emails-b": 0}
    controller = make(
        ScriptedSource(Reading(backlog=0, in_flight=10)),
        actuator,
        in_flight_by_worker=lambda q: held,
    )
    controller.step()
    (request,) = actuator.requests
    assert (request.current, request.desired) == (5, 1)
    assert request.in_flight_by_worker == held


def test_a_replica_that_is_not_leader_observes_but_does_not_act() -> None:
    actuator = Recorder({"emails": 1})
    controller = make(ScriptedSource(Reading(backlog=900)), actuator, is_leader=lambda: False)
    assert controller.step() == []
    assert actuator.requests == []


def test_waits_longer_while_observations_fail_capped() -> None:
    controller = make(ScriptedSource(Reading.failed("down")), Recorder({"emails": 1}))
    waits = []
    for _ in range(7):
        controller.step()
        waits.append(controller.wait_s())
    assert waits == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    controller.source = ScriptedSource(Reading(backlog=1))
    controller.step()
    assert controller.wait_s() == 2.0


class PerQueueSource:
    """Each queue's own reading."""

    def __init__(self, readings: Mapping[str, Reading]) -> None:
        self.readings = dict(readings)

    def observe(self, queues: Sequence[str]) -> dict[str, Reading]:
        return {q: self.readings[q] for q in queues}

    def close(self) -> None:
        pass


def test_one_unreadable_queue_holds_itself_only() -> None:
    """One queue's key holds another type: that queue holds its replicas, the other scales,
    and the loop neither backs off nor turns unready for it."""
    cfg = parse_config(
        {
            "pollIntervalSeconds": 2,
            "queues": [
                {
                    "name": name,
                    "concurrency": 10,
                    "autoscaling": {"maxReplicas": 10, "targetBacklogPerReplica": 100},
                }
                for name in ("emails", "reports")
            ],
        }
    )
    source = PerQueueSource(
        {
            "emails": Reading(backlog=500),
            "reports": Reading.failed("WRONGTYPE Operation against a key holding the wrong kind"),
        }
    )
    actuator = Recorder({"emails": 1, "reports": 3})
    liveness = Liveness(stale_after_s=30.0, clock=lambda: 5.0)
    controller = Controller(
        config=cfg, source=source, actuator=actuator, clock=Clock(), liveness=liveness
    )
    for _ in range(4):
        outcomes = {o.queue.name: o for o in controller.step()}
        assert controller.wait_s() == 2.0
    assert outcomes["reports"].decision.reason is Reason.OBSERVATION_FAILED
    assert outcomes["reports"].error.startswith("WRONGTYPE")
    assert actuator.replicas == {"emails": 5, "reports": 3}
    assert liveness.ready()


def test_config_reload_applies_a_good_file_and_keeps_the_last_good_one(tmp_path: Path) -> None:
    path = tmp_path / "autoscaler.yaml"
    path.write_text(CONFIG_YAML.format(max=10))
    metrics = ControllerMetrics()
    actuator = Recorder({"emails": 1})
    controller = make(
        ScriptedSource(Reading(backlog=5000)),
        actuator,
        watcher=ConfigWatcher(path, config()),
        metrics=metrics,
    )
    path.write_text(CONFIG_YAML.format(max=3))
    (outcome,) = controller.step()
    assert outcome.decision.desired == 3
    path.write_text(CONFIG_YAML.format(max=2).replace("maxReplicas", "maxReplica"))
    controller.step()
    assert controller.config.queues[0].max_replicas == 3
    assert controller.watcher is not None
    assert "maxReplica: unknown field" in (controller.watcher.last_error or "")
    assert metrics.registry.get_sample_value("shoal_autoscaler_config_reload_failures_total") == 1


def test_metrics_and_liveness_follow_each_pass() -> None:
    metrics = ControllerMetrics()
    liveness = Liveness(stale_after_s=30.0, clock=lambda: 5.0)
    controller = make(
        ScriptedSource(Reading(backlog=250, in_flight=7)),
        Recorder({"emails": 1}),
        metrics=metrics,
        liveness=liveness,
    )
    controller.step()
    sample = metrics.registry.get_sample_value
    assert sample("shoal_autoscaler_backlog", {"queue": "emails"}) == 250
    assert sample("shoal_autoscaler_in_flight", {"queue": "emails"}) == 7
    assert sample("shoal_autoscaler_desired_replicas", {"queue": "emails"}) == 3
    assert sample("shoal_autoscaler_decisions_total", {"queue": "emails", "reason": "backlog"}) == 1
    assert liveness.live() and liveness.ready()


@pytest.mark.parametrize(
    ("last_tick", "last_ok", "now", "live", "ready"),
    [
        (None, None, 0.0, True, False),
        (10.0, 10.0, 20.0, True, True),
        (10.0, None, 20.0, True, False),
        (10.0, 10.0, 41.0, False, False),
    ],
)
def test_liveness_and_readiness(
    last_tick: float | None, last_ok: float | None, now: float, live: bool, ready: bool
) -> None:
    liveness = Liveness(stale_after_s=30.0, clock=lambda: now, last_tick=last_tick, last_ok=last_ok)
    assert (liveness.live(), liveness.ready()) == (live, ready)


class StatusHash:
    """Stands in for the Redis client's two hash calls the status uses."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def hset(self, key: str, mapping: dict[str, str]) -> None:
        self.fields.update(mapping)

    def hdel(self, key: str, *names: str) -> None:
        for name in names:
            self.fields.pop(name, None)


def test_a_queue_dropped_from_the_config_leaves_the_status(tmp_path: Path) -> None:
    path = tmp_path / "autoscaler.yaml"
    two = CONFIG_YAML.format(max=5) + CONFIG_YAML.format(max=5).split("queues:\n")[1].replace(
        "name: emails", "name: reports"
    )
    path.write_text(two)
    import yaml

    hash_ = StatusHash()
    both = parse_config(yaml.safe_load(two))
    controller = Controller(
        config=both,
        source=ScriptedSource(Reading(backlog=10)),
        actuator=Recorder({"emails": 1, "reports": 1}),
        status_client=hash_,
        watcher=ConfigWatcher(path, both),
        clock=Clock(),
    )
    controller.step()
    assert sorted(hash_.fields) == ["emails", "reports"]
    path.write_text(CONFIG_YAML.format(max=5))
    controller.step()
    assert sorted(hash_.fields) == ["emails"]


class Delivery:
    """The contract's promote and recover, scripted: counts calls, fails while told to."""

    def __init__(self, promoted: int = 0, recovered: int = 0) -> None:
        self.promoted, self.recovered = promoted, recovered
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.down = False

    def promote(self, client: object, queues: Sequence[str]) -> int:
        self.calls.append(("promote", tuple(queues)))
        if self.down:
            raise ConnectionError("Connection refused")
        return self.promoted

    def recover(self, client: object) -> int:
        self.calls.append(("recover", ()))
        if self.down:
            raise ConnectionError("Connection refused")
        return self.recovered


def test_the_leader_promotes_and_recovers_every_pass_and_counts_them() -> None:
    delivery = Delivery(promoted=3, recovered=2)
    metrics = ControllerMetrics()
    controller = make(
        ScriptedSource(Reading()),
        Recorder({"emails": 0}),
        upkeep=Upkeep(None, promote=delivery.promote, recover=delivery.recover),
        metrics=metrics,
    )
    controller.step()
    controller.step()
    assert delivery.calls == [("promote", ("emails",)), ("recover", ())] * 2
    assert metrics.registry.get_sample_value("shoal_autoscaler_promoted_total") == 6
    assert metrics.registry.get_sample_value("shoal_autoscaler_recovered_total") == 4


def test_a_standby_neither_promotes_nor_recovers() -> None:
    delivery = Delivery()
    controller = make(
        ScriptedSource(Reading()),
        Recorder({"emails": 0}),
        upkeep=Upkeep(None, promote=delivery.promote, recover=delivery.recover),
        is_leader=lambda: False,
    )
    controller.step()
    assert delivery.calls == []


def test_failed_upkeep_is_logged_once_retried_every_pass_and_never_lowers_replicas(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delivery = Delivery(promoted=1)
    delivery.down = True
    metrics = ControllerMetrics()
    actuator = Recorder({"emails": 3})
    controller = make(
        ScriptedSource(Reading(backlog=300)),
        actuator,
        upkeep=Upkeep(None, promote=delivery.promote, recover=delivery.recover),
        metrics=metrics,
    )
    with caplog.at_level("INFO", logger="shoal.autoscaler.upkeep"):
        for _ in range(3):
            (outcome,) = controller.step()
            assert outcome.decision.desired == 3  # decided from the observation as usual
        delivery.down = False
        controller.step()
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert failures == [
        "promote failed (retried every pass): ConnectionError: Connection refused",
        "recover failed (retried every pass): ConnectionError: Connection refused",
    ]
    assert "promote works again" in caplog.messages
    assert len(delivery.calls) == 8  # both, every pass
    for task in ("promote", "recover"):
        sample = metrics.registry.get_sample_value(
            "shoal_autoscaler_upkeep_failures_total", {"task": task}
        )
        assert sample == 3
    assert actuator.requests == []


def test_the_status_and_metrics_show_waiting_per_priority_held_and_delayed() -> None:
    client = FakeStatusClient()
    metrics = ControllerMetrics()
    reading = Reading(
        backlog=7,
        waiting=(5, 0, 0, 2),
        held_live=4,
        held_dead=1,
        delayed=9,
        next_due_in_s=40.0,
    )
    controller = make(
        ScriptedSource(reading), Recorder({"emails": 1}), status_client=client, metrics=metrics
    )
    controller.wall = lambda: 1_000.0
    controller.step()
    record = json.loads(client.written["emails"])
    assert record["waiting"] == {"0": 5, "3": 0, "6": 0, "9": 2}
    assert (record["held_live"], record["held_dead"], record["delayed"]) == (4, 1, 9)
    assert record["next_due_at"] == 1_040.0
    sample = metrics.registry.get_sample_value
    assert sample("shoal_autoscaler_waiting", {"queue": "emails", "priority": "9"}) == 2
    assert sample("shoal_autoscaler_held_dead", {"queue": "emails"}) == 1
    assert sample("shoal_autoscaler_delayed", {"queue": "emails"}) == 9
    assert sample("shoal_autoscaler_next_due_timestamp_seconds", {"queue": "emails"}) == 1_040.0
    controller.source = ScriptedSource(Reading(backlog=7, waiting=(7, 0, 0, 0)))
    controller.step()
    assert sample("shoal_autoscaler_next_due_timestamp_seconds", {"queue": "emails"}) is None


class FakeStatusClient:
    """The one call the status hash makes (``hset`` with a mapping)."""

    def __init__(self) -> None:
        self.written: dict[str, str] = {}

    def hset(self, key: str, mapping: dict[str, str]) -> None:
        self.written.update(mapping)
