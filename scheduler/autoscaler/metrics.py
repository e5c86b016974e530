"""The controller's Prometheus metrics, in a registry of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from scheduler.autoscaler.model import Decision, Observation

PREFIX = "shoal_autoscaler_"


class ControllerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.backlog = Gauge(
            PREFIX + "backlog", "Tasks waiting (all priority lists).", ["queue"], registry=r
        )
        self.in_flight = Gauge(
            PREFIX + "in_flight", "Tasks that workers hold.", ["queue"], registry=r
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

    def record(self, queue: str, obs: Observation, decision: Decision) -> None:
        self.current.labels(queue).set(obs.current_replicas)
        self.desired.labels(queue).set(decision.desired)
        self.decisions.labels(queue, str(decision.reason)).inc()
        if obs.ok:
            self.backlog.labels(queue).set(obs.backlog)
            self.in_flight.labels(queue).set(obs.in_flight)
            self.oldest_age.labels(queue).set(obs.oldest_age_s or 0.0)
            self.arrival.labels(queue).set(obs.arrival_rate_per_s)
            self.completion.labels(queue).set(obs.completion_rate_per_s)

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)
