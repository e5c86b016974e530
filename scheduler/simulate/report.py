"""What a run measured, per queue: queue waits, time above target, cost, scale events.

Waits come from the cumulative curves: with FIFO service, task ``n`` of a queue was published
in the first step where cumulative arrivals reach ``n`` and started in the first step where
cumulative starts reach ``n``; its wait is the difference. Between two breakpoints of either
curve all tasks share one wait, so the exact distribution is a few weighted values per step.
Waits are whole steps: a task started in the step it was published waited 0.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from scheduler.simulate.engine import RunResult

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class QueueReport:
    queue: str
    tasks: int
    completed: int
    p50_wait_s: float
    p95_wait_s: float
    max_wait_s: float
    time_above_target_s: float | None
    """Time the oldest waiting task was older than targetLatencySeconds (None: no target)."""
    replica_seconds: float
    scale_events: int
    peak_replicas: int
    drain_time_s: float | None
    """From the first task published to the last one completed (None: some never finished)."""
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    policy: str
    simulated_s: float
    queues: list[QueueReport]
    total: QueueReport

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "simulated_s": self.simulated_s,
            "queues": [asdict(q) for q in self.queues],
            "total": asdict(self.total),
        }


def wait_distribution(published: IntArray, started: IntArray) -> tuple[IntArray, IntArray]:
    """(wait in steps, number of tasks) pairs for the tasks of one queue that started."""
    count = int(started[-1]) if started.size else 0
    if count == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # Every task number at which a publish or a start count moves; both counts are cumulative
    # (sorted), so a stable sort of the two and dropping repeats is their union.
    marks = np.concatenate((published, started))
    marks = marks[(marks > 0) & (marks <= count)]
    marks.sort(kind="stable")
    if marks.size:
        marks = marks[np.concatenate(([True], marks[1:] != marks[:-1]))]
    lower = np.concatenate(([0], marks[:-1]))
    arrived = np.searchsorted(published, marks, side="left")
    began = np.searchsorted(started, marks, side="left")
    waits: IntArray = (began - arrived).astype(np.int64)
    weights: IntArray = (marks - lower).astype(np.int64)
    return waits, weights


def quantile(waits: IntArray, weights: IntArray, q: float) -> float:
    """The smallest wait at or above which fraction ``q`` of the tasks lie (nearest rank)."""
    total = int(weights.sum())
    if total == 0:
        return 0.0
    order = np.argsort(waits, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, q * total, side="left"))
    return float(waits[order][min(index, len(order) - 1)])


def oldest_age_steps(
    published: IntArray, started: IntArray, waiting: npt.NDArray[np.integer[Any]]
) -> IntArray:
    """Per step: age in steps of the oldest task still waiting (0 when none waits)."""
    steps = np.arange(published.shape[0])
    arrived = np.searchsorted(published, started + 1, side="left")
    ages: IntArray = np.where(waiting > 0, steps - arrived, 0).astype(np.int64)
    return ages


def _drain_time_steps(published: IntArray, completed: IntArray) -> int | None:
    total = int(published[-1])
    if total == 0:
        return 0
    if int(completed[-1]) < total:
        return None
    first = int(np.argmax(published > 0))
    last = int(np.argmax(completed >= total))
    return last - first


def _queue_report(result: RunResult, i: int) -> tuple[QueueReport, IntArray, IntArray]:
    h = result.history
    step = result.settings.step_s
    spec = result.queues[i]
    published = result.published[:, i]
    started = h.started[:, i]
    waits, weights = wait_distribution(published, started)
    above: float | None = None
    if spec.target_latency_s is not None:
        ages = oldest_age_steps(published, started, h.waiting[:, i])
        above = float(np.count_nonzero(ages * step > spec.target_latency_s)) * step
    drain = _drain_time_steps(published, h.completed[:, i])
    report = QueueReport(
        queue=spec.name,
        tasks=int(published[-1]),
        completed=int(h.completed[-1, i]),
        p50_wait_s=quantile(waits, weights, 0.5) * step,
        p95_wait_s=quantile(waits, weights, 0.95) * step,
        max_wait_s=float(waits.max(initial=0)) * step,
        time_above_target_s=above,
        replica_seconds=float(h.billed[:, i].sum(dtype=np.int64)) * step,
        scale_events=int(result.scale_events[i]),
        peak_replicas=int(h.replicas[:, i].max(initial=0)),
        drain_time_s=None if drain is None else drain * step,
        reasons=dict(sorted(result.reasons[i].items())) if result.reasons else {},
    )
    return report, waits, weights


def build_report(result: RunResult) -> Report:
    queues: list[QueueReport] = []
    all_waits: list[IntArray] = []
    all_weights: list[IntArray] = []
    for i in range(len(result.queues)):
        report, waits, weights = _queue_report(result, i)
        queues.append(report)
        all_waits.append(waits)
        all_weights.append(weights)
    waits = np.concatenate(all_waits) if all_waits else np.zeros(0, dtype=np.int64)
    weights = np.concatenate(all_weights) if all_weights else np.zeros(0, dtype=np.int64)
    step = result.settings.step_s
    drains = [q.drain_time_s for q in queues]
    above = [q.time_above_target_s for q in queues if q.time_above_target_s is not None]
    total = QueueReport(
        queue="(all)",
        tasks=sum(q.tasks for q in queues),
        completed=sum(q.completed for q in queues),
        p50_wait_s=quantile(waits, weights, 0.5) * step,
        p95_wait_s=quantile(waits, weights, 0.95) * step,
        max_wait_s=max((q.max_wait_s for q in queues), default=0.0),
        time_above_target_s=sum(above) if above else None,
        replica_seconds=sum(q.replica_seconds for q in queues),
        scale_events=sum(q.scale_events for q in queues),
        peak_replicas=int(result.history.replicas.sum(axis=1).max(initial=0)),
        drain_time_s=None if None in drains else max((d or 0.0 for d in drains), default=0.0),
    )
    return Report(
        policy=result.policy,
        simulated_s=result.trace.steps * step,
        queues=queues,
        total=total,
    )


COLUMNS = (
    ("queue", "queue", "{}"),
    ("tasks", "tasks", "{}"),
    ("p50_wait_s", "p50 wait", "{:.0f}s"),
    ("p95_wait_s", "p95 wait", "{:.0f}s"),
    ("max_wait_s", "max wait", "{:.0f}s"),
    ("time_above_target_s", "above target", "{:.0f}s"),
    ("replica_seconds", "replica-s", "{:.0f}"),
    ("scale_events", "scale events", "{}"),
    ("peak_replicas", "peak", "{}"),
)


def format_table(report: Report) -> str:
    """A table for people: one row per queue, then the total."""
    rows = [[title for _, title, _ in COLUMNS]]
    for q in [*report.queues, report.total] if len(report.queues) > 1 else report.queues:
        values = asdict(q)
        rows.append(
            ["-" if values[key] is None else fmt.format(values[key]) for key, _, fmt in COLUMNS]
        )
    widths = [max(len(row[c]) for row in rows) for c in range(len(COLUMNS))]
    lines = [f"policy {report.policy}, {report.simulated_s:.0f}s simulated"]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_json(reports: list[Report]) -> str:
    return json.dumps([r.to_json() for r in reports], indent=2)
