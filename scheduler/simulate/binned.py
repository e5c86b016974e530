"""A trace binned into per-step arrays for the simulator.

The rows come from :mod:`scheduler.simulate.trace` (the one reader of the format). Several
rows for the same queue and step add up. The binned form has one column per queue: tasks
arriving in each step, and the mean service time in force at each step (carried forward from
the last row, so a queue's service time is defined from its first row on).

A row with a ``delay_s`` waits in the queue's delayed set from the step it is published until
its due time, and arrives in the queue (is waiting work) in the step it is due, as the
controller's promotion moves it. For such traces the binned form also has, per step, the tasks
in the delayed set and when the first of them is due.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from scheduler.simulate.trace import TraceError, TraceRow, read_rows

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Trace:
    """Per-step arrivals and service times, one column per queue (in ``queues`` order)."""

    queues: tuple[str, ...]
    step_s: float
    arrivals: IntArray
    """Shape (steps, queues): tasks published during each step."""
    service_s: FloatArray
    """Shape (steps, queues): the mean service time in force at each step."""
    last_arrival_s: float
    delayed: IntArray | None = None
    """Shape (steps, queues): tasks in the delayed set during each step (published, not due);
    None when no row has a delay."""
    next_due_s: FloatArray | None = None
    """Shape (steps, queues): when the first of those is due (seconds from the start of the
    trace; inf when none); None when no row has a delay."""

    @property
    def steps(self) -> int:
        return int(self.arrivals.shape[0])

    def total_tasks(self) -> dict[str, int]:
        return {q: int(self.arrivals[:, i].sum()) for i, q in enumerate(self.queues)}


def bin_rows(
    rows: list[TraceRow],
    *,
    step_s: float = 1.0,
    tail_s: float = 0.0,
    queues: Iterable[str] = (),
) -> Trace:
    """Bin rows into steps of ``step_s``; ``tail_s`` of quiet time follows the last arrival.

    ``queues`` adds columns (in that order, before the trace's own queues) for queues that
    have no row, so a values file's idle queues are simulated too.
    """
    if step_s <= 0:
        raise TraceError(f"step_s: expected seconds > 0, got {step_s}")
    names = list(dict.fromkeys([*queues, *(row.queue for row in rows)]))
    index = {name: i for i, name in enumerate(names)}
    last = max((row.time_s + row.delay_s for row in rows), default=0.0)
    steps = math.floor(last / step_s) + 1 + math.ceil(max(tail_s, 0.0) / step_s)
    arrivals = np.zeros((steps, len(names)), dtype=np.int64)
    service = np.full((steps, len(names)), np.nan)
    parked: tuple[IntArray, FloatArray] | None = None
    if rows:
        cols = np.fromiter((index[r.queue] for r in rows), dtype=np.int64, count=len(rows))
        times = np.fromiter((r.time_s for r in rows), dtype=np.float64, count=len(rows))
        at = np.floor(times / step_s).astype(np.int64)
        dues = times + np.fromiter((r.delay_s for r in rows), dtype=np.float64, count=len(rows))
        due_at = np.floor(dues / step_s).astype(np.int64)
        counts = np.fromiter((r.tasks for r in rows), dtype=np.int64, count=len(rows))
        np.add.at(arrivals, (due_at, cols), counts)
        means = np.fromiter((r.mean_service_s for r in rows), dtype=np.float64, count=len(rows))
        order = np.argsort(times, kind="stable")
        service[at[order], cols[order]] = means[order]
        waits = (due_at > at) & (counts > 0)
        if waits.any():
            shape = (steps, len(names))
            parked = _delayed(shape, at[waits], due_at[waits], dues[waits], cols[waits],
                              counts[waits])  # fmt: skip
    return Trace(
        queues=tuple(names),
        step_s=step_s,
        arrivals=arrivals,
        service_s=_carry_forward(service),
        last_arrival_s=last,
        delayed=None if parked is None else parked[0],
        next_due_s=None if parked is None else parked[1],
    )


def _delayed(
    shape: tuple[int, int],
    at: IntArray,
    due_at: IntArray,
    dues: FloatArray,
    cols: IntArray,
    counts: IntArray,
) -> tuple[IntArray, FloatArray]:
    """Per step and queue: tasks in the delayed set (from the step each is published to the
    step before it is due) and the earliest due time among them (inf: none)."""
    change = np.zeros((shape[0] + 1, shape[1]), dtype=np.int64)
    np.add.at(change, (at, cols), counts)
    np.add.at(change, (due_at, cols), -counts)
    parked: IntArray = np.cumsum(change[:-1], axis=0)
    first: FloatArray = np.full(shape, np.inf)
    for i in np.argsort(-dues, kind="stable").tolist():  # the earliest due painted last wins
        first[at[i] : due_at[i], cols[i]] = dues[i]
    return parked, first


def _carry_forward(values: FloatArray) -> FloatArray:
    """Fill each NaN with the last value above it; leading NaNs take the first value (or 1 s)."""
    out = values.copy()
    steps = out.shape[0]
    for col in range(out.shape[1]):
        column = out[:, col]
        known = ~np.isnan(column)
        if not known.any():
            column[:] = 1.0
            continue
        last_known = np.where(known, np.arange(steps), 0)
        np.maximum.accumulate(last_known, out=last_known)
        first = int(np.argmax(known))
        filled = column[last_known]
        filled[:first] = column[first]
        out[:, col] = filled
    return out


def load(
    path: Path, *, step_s: float = 1.0, tail_s: float = 0.0, queues: Iterable[str] = ()
) -> Trace:
    return bin_rows(read_rows(path), step_s=step_s, tail_s=tail_s, queues=queues)
