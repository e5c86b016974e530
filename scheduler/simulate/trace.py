"""Traces: CSV ``time_s,queue,tasks,mean_service_s``, binned into per-step arrays.

A row says ``tasks`` tasks were published to ``queue`` at ``time_s`` (seconds from the start),
each taking ``mean_service_s`` on average. Rows need not be sorted; several rows for the same
queue and second add up. The binned form has one column per queue: tasks arriving in each step,
and the mean service time in force at each step (carried forward from the last row, so a queue's
service time is defined from its first row on).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

HEADER = ("time_s", "queue", "tasks", "mean_service_s")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class TraceError(ValueError):
    """A trace file is malformed; the message names the file, the line and the field."""


@dataclass(frozen=True)
class TraceRow:
    time_s: float
    queue: str
    tasks: int
    mean_service_s: float


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

    @property
    def steps(self) -> int:
        return int(self.arrivals.shape[0])

    def total_tasks(self) -> dict[str, int]:
        return {q: int(self.arrivals[:, i].sum()) for i, q in enumerate(self.queues)}


def parse_rows(lines: Iterable[str], *, source: str = "trace") -> list[TraceRow]:
    """Rows of a trace; raises :class:`TraceError` naming the line of the first bad value."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != HEADER:
        raise TraceError(f"{source}: line 1: expected the header {','.join(HEADER)}")
    rows: list[TraceRow] = []
    for lineno, record in enumerate(reader, start=2):
        if not record or all(not cell.strip() for cell in record):
            continue
        if len(record) != len(HEADER):
            raise TraceError(f"{source}: line {lineno}: expected 4 fields, got {len(record)}")
        rows.append(_parse_record(record, f"{source}: line {lineno}"))
    return rows


def _parse_record(record: list[str], where: str) -> TraceRow:
    time_raw, queue, tasks_raw, service_raw = (cell.strip() for cell in record)
    try:
        time_s = float(time_raw)
    except ValueError:
        raise TraceError(f"{where}: time_s: expected seconds >= 0, got {time_raw!r}") from None
    if not math.isfinite(time_s) or time_s < 0:
        raise TraceError(f"{where}: time_s: expected seconds >= 0, got {time_raw!r}")
    if not queue:
        raise TraceError(f"{where}: queue: empty")
    try:
        tasks = int(tasks_raw)
    except ValueError:
        raise TraceError(f"{where}: tasks: expected an integer >= 0, got {tasks_raw!r}") from None
    if tasks < 0:
        raise TraceError(f"{where}: tasks: expected an integer >= 0, got {tasks_raw!r}")
    try:
        service = float(service_raw)
    except ValueError:
        service = -1.0
    if not math.isfinite(service) or service <= 0:
        raise TraceError(f"{where}: mean_service_s: expected seconds > 0, got {service_raw!r}")
    return TraceRow(time_s, queue, tasks, service)


def read_rows(path: Path) -> list[TraceRow]:
    try:
        with path.open(newline="") as handle:
            return parse_rows(handle, source=str(path))
    except OSError as exc:
        raise TraceError(f"{path}: cannot read the trace ({exc.strerror})") from None


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
    last = max((row.time_s for row in rows), default=0.0)
    steps = math.floor(last / step_s) + 1 + math.ceil(max(tail_s, 0.0) / step_s)
    arrivals = np.zeros((steps, len(names)), dtype=np.int64)
    service = np.full((steps, len(names)), np.nan)
    if rows:
        cols = np.fromiter((index[r.queue] for r in rows), dtype=np.int64, count=len(rows))
        times = np.fromiter((r.time_s for r in rows), dtype=np.float64, count=len(rows))
        at = np.floor(times / step_s).astype(np.int64)
        counts = np.fromiter((r.tasks for r in rows), dtype=np.int64, count=len(rows))
        np.add.at(arrivals, (at, cols), counts)
        means = np.fromiter((r.mean_service_s for r in rows), dtype=np.float64, count=len(rows))
        order = np.argsort(times, kind="stable")
        service[at[order], cols[order]] = means[order]
    return Trace(
        queues=tuple(names),
        step_s=step_s,
        arrivals=arrivals,
        service_s=_carry_forward(service),
        last_arrival_s=last,
    )


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
