"""The control loop: observe, decide, act, as three separate steps, every poll interval.

- upkeep (while leading): due delayed tasks back to their queues, dead workers' tasks back
  (:mod:`~scheduler.autoscaler.upkeep`; a failure is logged and retried next pass);
- observe: one call to the queue source for every queue (a failed observation is an explicit
  ``ok=False`` input to the policy) and one call to the actuator for the current replicas;
- decide: the pure policy per queue, with the queue's remembered state;
- act: the actuator sets the replicas that changed; a scale-in carries each worker's in-flight
  count. An actuator failure is logged and retried next pass; it never lowers anything.

The loop itself never dies of Redis or Kubernetes going away: while observations fail it waits
longer between passes (capped backoff) and the policy holds the replicas.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from contract.backoff import compute_backoff
from scheduler.autoscaler import status
from scheduler.autoscaler.actuator import Actuator, ActuatorError, ScaleRequest
from scheduler.autoscaler.config import ConfigError, ControllerConfig, QueuePolicy
from scheduler.autoscaler.health import Liveness
from scheduler.autoscaler.metrics import ControllerMetrics
from scheduler.autoscaler.model import Decision, Observation, QueueState, Reading
from scheduler.autoscaler.policy import decide
from scheduler.autoscaler.reload import ConfigWatcher
from scheduler.autoscaler.source import QueueSource
from scheduler.autoscaler.upkeep import Upkeep

log = logging.getLogger("shoal.autoscaler")

MAX_RETRY_WAIT_S = 30.0


@dataclass(frozen=True)
class Outcome:
    """One queue's pass, for the status hash, the metrics and the tests."""

    queue: QueuePolicy
    observation: Observation
    decision: Decision
    error: str = ""
    acted: bool = False
    reading: Reading = Reading()
    """What the source measured (with the waiting tasks per priority step)."""


@dataclass
class Controller:
    config: ControllerConfig
    source: QueueSource
    actuator: Actuator
    status_client: Any = None
    """A Redis client for the status hash (None: not written)."""
    in_flight_by_worker: Callable[[str], Mapping[str, int]] = lambda queue: {}
    metrics: ControllerMetrics | None = None
    liveness: Liveness | None = None
    watcher: ConfigWatcher | None = None
    is_leader: Callable[[], bool] = lambda: True
    upkeep: Upkeep | None = None
    """Promotion of due delayed tasks and recovery of dead workers' tasks (None: not run)."""
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    states: dict[str, QueueState] = field(default_factory=dict)
    failed_passes: int = 0

    # -- one pass --------------------------------------------------------------------------
    def step(self) -> list[Outcome]:
        self._reload()
        queues = self.config.queues
        leader = self.is_leader()
        if self.metrics:
            self.metrics.leader.set(1 if leader else 0)
        if leader:
            self._upkeep(queues)
        readings = self._observe(queues)
        if not leader:
            self.states.clear()  # a new leader starts from what it sees, conservatively
            self._tick(readings)
            return []
        current, current_error = self._current(queues)
        if current is None:
            self._tick(readings)
            log.warning("cannot read replicas (%s): holding every queue", current_error)
            return []
        present = [q for q in queues if q.name in current]  # a missing Deployment: skipped
        outcomes = [self._decide(q, readings[q.name], current[q.name]) for q in present]
        outcomes = [self._act(o) for o in outcomes]
        self._publish(outcomes)
        self._tick(readings)
        return outcomes

    def _reload(self) -> None:
        if self.watcher is None:
            return
        try:
            new = self.watcher.poll()
        except ConfigError:
            if self.metrics:
                self.metrics.reload_failures.inc()
            return
        if new is not None:
            self.apply_config(new)

    def apply_config(self, new: ControllerConfig) -> None:
        """Take a new config; queues that stay keep their memory."""
        fixed = ("redis", "priority", "metrics_port", "health_port", "namespace", "leader_election")
        for name in fixed:
            if getattr(new, name) != getattr(self.config, name):
                log.warning("config: %s changed; it takes effect at the next restart", name)
        new = replace(new, **{name: getattr(self.config, name) for name in fixed})
        names = {q.name for q in new.queues}
        self.states = {k: v for k, v in self.states.items() if k in names}
        dropped = [q.name for q in self.config.queues if q.name not in names]
        if dropped and self.status_client is not None:
            try:
                status.forget(self.status_client, dropped)
            except Exception as exc:  # the status hash is for people; never stop for it
                log.info("status of %s not removed: %s", ", ".join(dropped), exc)
        self.config = new

    def _upkeep(self, queues: tuple[QueuePolicy, ...]) -> None:
        if self.upkeep is None:
            return
        result = self.upkeep.run([q.name for q in queues])
        if self.metrics:
            self.metrics.record_upkeep(result)

    def _observe(self, queues: tuple[QueuePolicy, ...]) -> dict[str, Reading]:
        started = time.perf_counter()
        readings = self.source.observe([q.name for q in queues])
        if self.metrics:
            self.metrics.observe_seconds.observe(time.perf_counter() - started)
        failed = [r for r in readings.values() if not r.ok]
        if failed and self.metrics:
            self.metrics.observe_failures.inc()
        if failed:
            log.warning("observation failed for %d queue(s): %s", len(failed), failed[0].error)
        return readings

    def _current(self, queues: tuple[QueuePolicy, ...]) -> tuple[dict[str, int] | None, str]:
        try:
            return self.actuator.current(queues), ""
        except ActuatorError as exc:
            if self.metrics:
                for q in queues:
                    self.metrics.scale_errors.labels(q.name).inc()
            return None, str(exc)

    def _decide(self, queue: QueuePolicy, reading: Reading, current: int) -> Outcome:
        obs = Observation.of(reading, current, next_look_in_s=self.config.poll_interval_s)
        state = self.states.get(queue.name, QueueState.initial())
        decision = decide(obs, state, queue, self.clock())
        self.states[queue.name] = decision.state
        return Outcome(queue, obs, decision, error=reading.error, reading=reading)

    def _act(self, outcome: Outcome) -> Outcome:
        obs, decision, queue = outcome.observation, outcome.decision, outcome.queue
        if decision.desired == obs.current_replicas:
            return outcome
        in_flight: Mapping[str, int] = {}
        if decision.desired < obs.current_replicas:
            try:
                in_flight = self.in_flight_by_worker(queue.name)
            except Exception as exc:  # deletion costs are a nicety: scale in without them
                log.info("%s: no per-worker in-flight counts (%s)", queue.name, exc)
        request = ScaleRequest(
            queue=queue,
            current=obs.current_replicas,
            desired=decision.desired,
            reason=decision.reason,
            detail=decision.detail,
            in_flight_by_worker=in_flight,
        )
        try:
            self.actuator.scale(request)
        except ActuatorError as exc:
            log.warning("%s: scaling to %d failed: %s", queue.name, decision.desired, exc)
            if self.metrics:
                self.metrics.scale_errors.labels(queue.name).inc()
            # The change did not happen: forget its event so the rate policies stay true.
            state = decision.state
            self.states[queue.name] = state._replace(events=state.events[:-1])
            return replace(outcome, error=str(exc))
        log.info(
            "%s: %d -> %d (%s: %s)",
            queue.name,
            obs.current_replicas,
            decision.desired,
            decision.reason,
            decision.detail,
        )
        return replace(outcome, acted=True)

    def _publish(self, outcomes: list[Outcome]) -> None:
        at = self.wall()
        steps = self.config.priority.steps
        if self.metrics:
            for o in outcomes:
                self.metrics.record(
                    o.queue.name, o.observation, o.decision, o.reading, steps=steps, at=at
                )
        if self.status_client is None:
            return
        records = [
            status.record(
                o.queue.name,
                o.queue.deployment,
                o.observation,
                o.decision,
                at=at,
                error=o.error,
                waiting=o.reading.waiting,
                steps=steps,
            )
            for o in outcomes
        ]
        try:
            status.write(self.status_client, records)
        except Exception as exc:  # the status hash is for people; never stop the loop for it
            log.info("status not written: %s", exc)

    def _tick(self, readings: Mapping[str, Reading]) -> None:
        # The source answered if any queue was read: one queue's unreadable key (another type)
        # fails that queue's reading, not the poll interval or readiness of the others.
        ok = not readings or any(r.ok for r in readings.values())
        self.failed_passes = 0 if ok else self.failed_passes + 1
        if self.liveness:
            self.liveness.tick(ok=ok)

    # -- the loop --------------------------------------------------------------------------
    def wait_s(self, rand: Callable[[], float] = lambda: 1.0) -> float:
        """The poll interval; longer (capped) while observations keep failing."""
        poll = self.config.poll_interval_s
        if self.failed_passes <= 1:
            return poll
        return max(
            poll,
            compute_backoff(
                self.failed_passes - 1,
                base_s=poll,
                factor=2.0,
                max_backoff_s=MAX_RETRY_WAIT_S,
                jitter=False,
                rand=rand,
            ),
        )

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            started = self.clock()
            try:
                self.step()
            except Exception:
                # A bug or an unexpected library error: log it and keep the loop alive.
                log.exception("pass failed; holding replicas")
                self.failed_passes += 1
            elapsed = self.clock() - started
            stop.wait(max(0.0, self.wait_s() - elapsed))
