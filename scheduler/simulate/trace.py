"""The trace format, read in one place: CSV ``time_s,queue,tasks,mean_service_s``.

A row says ``tasks`` tasks were published to ``queue`` at ``time_s`` (seconds from the start),
each taking ``mean_service_s`` on average. Rows need not be sorted. The rules, the same for
``shoal simulate``, ``shoal load`` and ``shoal demo``: the header line first; four fields a row
(blank lines skipped); ``time_s`` a finite number >= 0; ``queue`` a queue name
(:mod:`contract.queues`); ``tasks`` a whole number >= 0; ``mean_service_s`` a finite number > 0.
So NaN, infinities and negative counts are refused, each with the file, the line and the field.

Standard library only: ``shoal load`` reads traces in the image, which has no numpy
(:mod:`scheduler.simulate.binned` makes the simulator's arrays).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from contract.queues import RULE, is_queue_name

HEADER = ("time_s", "queue", "tasks", "mean_service_s")


class TraceError(ValueError):
    """A trace file is malformed; the message names the file, the line and the field."""


@dataclass(frozen=True)
class TraceRow:
    time_s: float
    queue: str
    tasks: int
    mean_service_s: float


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
    time_s = _number(time_raw)
    if not time_s >= 0:  # NaN fails this too
        raise TraceError(f"{where}: time_s: expected seconds >= 0, got {time_raw!r}")
    if not queue:
        raise TraceError(f"{where}: queue: empty")
    if not is_queue_name(queue):
        raise TraceError(f"{where}: queue: expected a queue name ({RULE}), got {queue!r}")
    if not (tasks_raw.isascii() and tasks_raw.isdigit()):  # no sign, fraction or exponent
        raise TraceError(f"{where}: tasks: expected an integer >= 0, got {tasks_raw!r}")
    service = _number(service_raw)
    if not service > 0:
        raise TraceError(f"{where}: mean_service_s: expected seconds > 0, got {service_raw!r}")
    return TraceRow(time_s, queue, int(tasks_raw), service)


def _number(text: str) -> float:
    """``text`` as a finite number; NaN for anything else (infinities included)."""
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def read_rows(path: Path) -> list[TraceRow]:
    try:
        with path.open(newline="") as handle:
            return parse_rows(handle, source=str(path))
    except OSError as exc:
        raise TraceError(f"{path}: cannot read the trace ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise TraceError(f"{path}: not a text file") from None
