"""The shoal controller under simulation takes shortcuts and gets the very same run."""

from __future__ import annotations

import numpy as np
import pytest

from scheduler.autoscaler.config import queue_policies_from_values
from scheduler.simulate.binned import Trace, bin_rows
from scheduler.simulate.controllers import QueueSpec
from scheduler.simulate.engine import RunResult, SimSettings, simulate
from scheduler.simulate.shoal_controller import ShoalController
from scheduler.simulate.trace import TraceRow

HOURS = 3


def day_slice(seed: int) -> tuple[Trace, list[dict[str, object]]]:
    """Five queues over three hours: steady, spiky, rare bursts, a latency-sized one and one
    whose only work is delayed tasks (countdowns of 20 s to 40 min; the spiky one gets some
    too); the seed also varies the settings (minimum, maximum, cooldown, windows)."""
    rng = np.random.default_rng(seed)
    steps = HOURS * 3600
    t = np.arange(steps)
    rates = [
        rng.uniform(2, 10) * (1.2 + np.sin(2 * np.pi * t / steps)),
        np.where((t % 900) < 30, 6.0, 0.05),
        np.zeros(steps),
        np.where((t % 1800) < 120, 3.0, 0.0),
    ]
    for start in rng.integers(0, steps - 10, size=4):
        rates[2][start] = rng.integers(200, 1500)
    arrivals = np.stack([rng.poisson(r) for r in rates], axis=1).astype(np.int64)
    arrivals = np.hstack([arrivals, np.zeros((steps, 1), dtype=np.int64)])  # eta: delayed only
    service = np.tile([0.3, 3.0, 0.5, 1.0, 2.0], (steps, 1))
    behaviour = {
        "scaleUp": {"stabilizationWindowSeconds": 30},
        "scaleDown": {
            "stabilizationWindowSeconds": 120,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 30}],
        },
    }
    most = (20, 3, 1)[seed % 3]
    autoscaling: list[dict[str, object]] = [
        {"targetBacklogPerReplica": 20, "cooldownSeconds": (120, 0, 30)[seed % 3]},
        {"targetBacklogPerReplica": 5, "cooldownSeconds": 300, **behaviour},
        {"targetBacklogPerReplica": 10, "cooldownSeconds": 60, "minReplicas": min(most, 2)},
        {"targetLatencySeconds": 20, "cooldownSeconds": 0, "activationBacklog": 1},
        {
            "targetBacklogPerReplica": 4,
            "cooldownSeconds": (0, 30, 120)[seed % 3],
            "podStartupSeconds": (4, 10, 30)[seed % 3],
            **behaviour,
        },
    ]
    names = ("steady", "spiky", "bursty", "latency", "eta")
    entries = [
        {
            "name": name,
            "pool": "prefork",
            "concurrency": 4,
            "autoscaling": {"minReplicas": 0, "maxReplicas": most, **block},
        }
        for name, block in zip(names, autoscaling, strict=True)
    ]
    late = _delayed_rows(rng, steps)
    binned = bin_rows(late, queues=names)
    assert binned.steps == steps and binned.delayed is not None
    trace = Trace(names, 1.0, arrivals + binned.arrivals, service, float(steps - 1),
                  binned.delayed, binned.next_due_s)  # fmt: skip
    return trace, entries


def _delayed_rows(rng: np.random.Generator, steps: int) -> list[TraceRow]:
    """Countdown tasks: on ``eta`` every few minutes, some in small groups, and a few on
    ``spiky``; all due before the end (a last empty row fixes the trace's length)."""
    rows = []
    for at in np.sort(rng.integers(0, steps - 2500, size=40)).tolist():
        delay = float(rng.choice([20, 45, 90, 600, 2400]))
        rows.append(TraceRow(float(at), "eta", int(rng.integers(1, 4)), 2.0, delay))
    for at in rng.integers(0, steps - 200, size=5).tolist():
        rows.append(TraceRow(float(at), "spiky", 3, 3.0, 120.0))
    rows.append(TraceRow(float(steps - 1), "eta", 0, 2.0, 0.0))
    return rows


def run(
    trace: Trace, entries: list[dict[str, object]], *, shortcuts: bool
) -> tuple[RunResult, int]:
    policies = list(queue_policies_from_values({"queues": entries}))
    specs = [
        QueueSpec(p.name, "prefork", p.concurrency, p.min_replicas, p.max_replicas,
                  p.target_latency_s, 0)
        for p in policies
    ]  # fmt: skip
    controller = ShoalController(policies, poll_interval_s=2.0, shortcuts=shortcuts)
    return simulate(trace, specs, controller, SimSettings(tail_s=0)), controller.asked


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_skipping_held_polls_and_unread_rates_gives_the_same_run(seed: int) -> None:
    trace, entries = day_slice(seed)
    skipped, decided = run(trace, entries, shortcuts=True)
    asked, every = run(trace, entries, shortcuts=False)
    polls = trace.steps // 2
    assert every == 5 * polls
    assert decided < every * 0.6  # most quiet polls were skipped
    for field in ("waiting", "running", "replicas", "billed", "completed"):
        assert np.array_equal(getattr(skipped.history, field), getattr(asked.history, field))
    assert skipped.scale_events.tolist() == asked.scale_events.tolist()
    assert skipped.reasons == asked.reasons
    assert all(sum(counts.values()) == polls for counts in skipped.reasons)
    # Not a vacuous comparison: the run scaled and idled queues.
    assert sum(skipped.scale_events.tolist()) >= 10
    idle = sum(counts.get("idle", 0) + counts.get("cooldown", 0) for counts in asked.reasons)
    assert idle > polls
    assert asked.reasons[4].get("delayed-due", 0) >= 20  # the wake-ups were compared too
    assert asked.reasons[4].get("idle", 0) > polls / 4  # and the quiet polls between them
