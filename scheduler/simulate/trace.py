"""The trace format, read in one place: CSV ``time_s,queue,tasks,mean_service_s[,delay_s]``.

A row says ``tasks`` tasks were published to ``queue`` at ``time_s`` (seconds from the start),
each taking ``mean_service_s`` on average, and, with the optional ``delay_s`` column, due that
long after they were published (a countdown or ETA: they wait in the queue's delayed set until
then). Rows need not be sorted. The rules, the same for ``shoal simulate``, ``shoal load`` and
``shoal demo``: the header line first (with or without ``delay_s``); as many fields a row as the
header has (blank lines skipped); ``time_s`` a finite number >= 0; ``queue`` a queue name
(:mod:`contract.queues`); ``tasks`` a whole number >= 0; ``mean_service_s`` a finite number > 0;
``delay_s`` a finite number >= 0 (0: due at once). So NaN, infinities and negative counts are
refused, each with the file, the line and the field.

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
DELAYED_HEADER = (*HEADER, "delay_s")


class TraceError(ValueError):
    """A trace file is malformed; the message names the file, the line and the field."""


@dataclass(frozen=True)
class TraceRow:
    time_s: float
    queue: str
    tasks: int
    mean_service_s: float
    delay_s: float = 0.0
    """From publication to due time (0: due at once)."""


def parse_rows(lines: Iterable[str], *, source: str = "trace") -> list[TraceRow]:
    """Rows of a trace; raises :class:`TraceError` naming the line of the first bad value."""
    reader = csv.reader(lines)
    header = tuple(h.strip() for h in next(reader, None) or ())
    if header not in (HEADER, DELAYED_HEADER):
        raise TraceError(
            f"{source}: line 1: expected the header {','.join(HEADER)} (then ,delay_s optional)"
        )
    rows: list[TraceRow] = []
    for lineno, record in enumerate(reader, start=2):
        if not record or all(not cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            raise TraceError(
                f"{source}: line {lineno}: expected {len(header)} fields, got {len(record)}"
            )
        rows.append(_parse_record(record, f"{source}: line {lineno}"))
    return rows


def _parse_record(record: list[str], where: str) -> TraceRow:
    time_raw, queue, tasks_raw, service_raw, *rest = (cell.strip() for cell in record)
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
    delay_s = 0.0
    if rest:
        delay_s = _number(rest[0])
        if not delay_s >= 0:
            raise TraceError(f"{where}: delay_s: expected seconds >= 0, got {rest[0]!r}")
    return TraceRow(time_s, queue, int(tasks_raw), service, delay_s)


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
