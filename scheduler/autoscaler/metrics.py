"""The controller's Prometheus metrics, in a registry of their own."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from scheduler.autoscaler.model import Decision, Observation, Reading
from scheduler.autoscaler.upkeep import UpkeepResult

PREFIX = "shoal_autoscaler_"


class ControllerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.backlog = Gauge(
            PREFIX + "backlog", "Tasks waiting (all priority lists).", ["queue"], registry=r
        )
        self.waiting = Gauge(
            PREFIX + "waiting",
            "Tasks waiting in the list of one priority step (priorities from it to the next).",
            ["queue", "priority"],
            registry=r,
        )
        self.in_flight = Gauge(
            PREFIX + "in_flight", "Tasks that workers hold.", ["queue"], registry=r
        )
        self.held_live = Gauge(
            PREFIX + "held_live",
            "Tasks held by live workers (running, prefetched, waiting for an ETA due soon).",
            ["queue"],
            registry=r,
        )
        self.held_dead = Gauge(
            PREFIX + "held_dead",
            "Tasks held by dead workers, not given back yet.",
            ["queue"],
            registry=r,
        )
        self.delayed = Gauge(
            PREFIX + "delayed", "Tasks in the delayed set, not due yet.", ["queue"], registry=r
        )
        self.next_due = Gauge(
            PREFIX + "next_due_timestamp_seconds",
            "When the first delayed task is due (absent when none is delayed).",
            ["queue"],
            registry=r,
        )
        self.oldest_age = Gauge(
            PREFIX + "oldest_age_seconds", "Age of the oldest waiting task.", ["queue"], registry=r
        )
        self.arrival = Gauge(
            PREFIX + "arrival_rate_per_second", "Smoothed arrivals.", ["queue"], registry=r
        )
        self.completion = Gauge(
            PREFIX + "completion_rate_per_second", "Smoothed completions.", ["queue"], registry=r
        )
        self.desired = Gauge(
            PREFIX + "desired_replicas", "Replicas decided.", ["queue"], registry=r
        )
        self.current = Gauge(
            PREFIX + "current_replicas", "Replicas observed.", ["queue"], registry=r
        )
        self.decisions = Counter(
            PREFIX + "decisions", "Decisions by reason.", ["queue", "reason"], registry=r
        )
        self.observe_seconds = Histogram(
            PREFIX + "observation_seconds",
            "Time to observe every queue (one round trip).",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=r,
        )
        self.observe_failures = Counter(
            PREFIX + "observation_failures", "Observations that failed.", registry=r
        )
        self.scale_errors = Counter(
            PREFIX + "scale_errors", "Replica reads or changes that failed.", ["queue"], registry=r
        )
        self.reload_failures = Counter(
            PREFIX + "config_reload_failures", "Config reloads refused.", registry=r
        )
        self.leader = Gauge(PREFIX + "leader", "1 while this replica acts.", registry=r)
        self.promoted = Counter(
            PREFIX + "promoted", "Delayed tasks this controller moved back at due time.", registry=r
        )
        self.recovered = Counter(
            PREFIX + "recovered", "Tasks of dead workers this controller gave back.", registry=r
        )
        self.upkeep_failures = Counter(
            PREFIX + "upkeep_failures",
            "Passes whose promotion or recovery failed (retried next pass).",
            ["task"],
            registry=r,
        )

    def record(
        self,
        queue: str,
        obs: Observation,
        decision: Decision,
        reading: Reading | None = None,
        *,
        steps: Sequence[int] = (),
        at: float = 0.0,
    ) -> None:
        """``reading``'s waiting tasks per priority step of ``steps``; ``at``: the wall clock
        of the pass (epoch seconds), for the next due time."""
        self.current.labels(queue).set(obs.current_replicas)
        self.desired.labels(queue).set(decision.desired)
        self.decisions.labels(queue, str(decision.reason)).inc()
        if obs.ok:
            self.backlog.labels(queue).set(obs.backlog)
            if reading is not None:
                for step, count in zip(steps, reading.waiting, strict=False):
                    self.waiting.labels(queue, str(step)).set(count)
            self.in_flight.labels(queue).set(obs.in_flight)
            self.held_live.labels(queue).set(obs.held_live)
            self.held_dead.labels(queue).set(obs.held_dead)
            self.delayed.labels(queue).set(obs.delayed)
            if obs.next_due_in_s is None:
                with contextlib.suppress(KeyError):
                    self.next_due.remove(queue)
            else:
                self.next_due.labels(queue).set(at + obs.next_due_in_s)
            self.oldest_age.labels(queue).set(obs.oldest_age_s or 0.0)
            self.arrival.labels(queue).set(obs.arrival_rate_per_s)
            self.completion.labels(queue).set(obs.completion_rate_per_s)

    def record_upkeep(self, result: UpkeepResult) -> None:
        self.promoted.inc(result.promoted)
        self.recovered.inc(result.recovered)
        for task in result.failed:
            self.upkeep_failures.labels(task).inc()

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)
