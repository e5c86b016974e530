"""One simulation split over processes: groups of queues run apart, with the result of one run.

Queues do not interact in the simulation: each has its own service state, pods, random
stream (see :mod:`scheduler.simulate.service`) and controller memory, and whole-run values
(the poll times, KEDA's operator clock) depend on time only. So the queues are split into
groups, each group is simulated with a controller built for its queues alone (in a forked
process), and the groups' tables are put back side by side in the trace's column order. The
result is the one of a single run over all queues, whatever the groups.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import numpy as np

from scheduler.simulate.binned import Trace
from scheduler.simulate.controllers import Controller, IntArray, QueueSpec
from scheduler.simulate.engine import History, I32Array, RunResult, SimSettings, simulate

ControllerFactory = Callable[[list[QueueSpec]], Controller]
"""Builds a fresh controller for the given queues (in the trace's column order)."""


@dataclass(frozen=True)
class _Part:
    """What one group's run sends back: its columns of the tables, its counts and reasons."""

    policy: str
    waiting: I32Array
    running: I32Array
    replicas: I32Array
    billed: I32Array
    scale_events: IntArray
    reasons: list[dict[str, int]]


def split(count: int, groups: int) -> list[list[int]]:
    """``count`` queue indices in at most ``groups`` contiguous groups of near-equal size."""
    return [c.tolist() for c in np.array_split(np.arange(count), max(1, groups)) if c.size]


def columns_of(trace: Trace, columns: Sequence[int]) -> Trace:
    """The trace restricted to some of its queues (in the order given)."""
    index = list(columns)
    return Trace(
        queues=tuple(trace.queues[i] for i in index),
        step_s=trace.step_s,
        arrivals=trace.arrivals[:, index],
        service_s=trace.service_s[:, index],
        last_arrival_s=trace.last_arrival_s,
        delayed=None if trace.delayed is None else trace.delayed[:, index],
        next_due_s=None if trace.next_due_s is None else trace.next_due_s[:, index],
    )


def _run_group(
    trace: Trace,
    specs: list[QueueSpec],
    make_controller: ControllerFactory,
    settings: SimSettings,
    columns: list[int],
) -> _Part:
    group = [specs[i] for i in columns]
    result = simulate(columns_of(trace, columns), group, make_controller(group), settings)
    h = result.history
    return _Part(
        policy=result.policy,
        waiting=h.waiting,
        running=h.running,
        replicas=h.replicas,
        billed=h.billed,
        scale_events=result.scale_events,
        reasons=result.reasons,
    )


def _child(conn: Connection, job: Callable[[], _Part]) -> None:
    try:
        conn.send(job())
    except BaseException:  # reported to the parent, which raises
        conn.send(traceback.format_exc())
    finally:
        conn.close()


def _forked(jobs: Sequence[Callable[[], _Part]]) -> list[_Part]:
    """Run each job in a forked process; their results, in order."""
    context = multiprocessing.get_context("fork")
    sys.stdout.flush()  # a child flushes inherited buffers when it exits: empty them first
    sys.stderr.flush()
    started: list[tuple[BaseProcess, Connection]] = []
    parts: list[_Part] = []
    try:
        for job in jobs:
            receive, send = context.Pipe(duplex=False)
            child = context.Process(target=_child, args=(send, job), daemon=True)
            child.start()
            send.close()
            started.append((child, receive))
        for process, receive in started:
            try:
                answer = receive.recv()
            except EOFError:
                process.join()
                answer = f"the process ended with exit code {process.exitcode}"
            if not isinstance(answer, _Part):
                raise RuntimeError(f"simulating a group of queues failed:\n{answer}")
            parts.append(answer)
        return parts
    finally:
        for process, receive in started:
            receive.close()
            if len(parts) < len(jobs) and process.is_alive():
                process.kill()  # a group failed: the others' results are not needed
            process.join()


def _merge(
    trace: Trace,
    specs: list[QueueSpec],
    settings: SimSettings,
    groups: list[list[int]],
    parts: list[_Part],
) -> RunResult:
    steps, count = trace.arrivals.shape
    tables = [np.zeros((steps, count), dtype=np.int32) for _ in range(4)]
    events = np.zeros(count, dtype=np.int64)
    reasons: list[dict[str, int]] = [{} for _ in range(count)]
    for columns, part in zip(groups, parts, strict=True):
        values = (part.waiting, part.running, part.replicas, part.billed)
        for table, column_values in zip(tables, values, strict=True):
            table[:, columns] = column_values
        events[columns] = part.scale_events
        for column, counts in zip(columns, part.reasons, strict=True):
            reasons[column] = counts
    waiting, running, replicas, billed = tables
    published = np.cumsum(trace.arrivals, axis=0)
    started = published - waiting
    history = History(
        waiting=waiting,
        running=running,
        replicas=replicas,
        billed=billed,
        started=started,
        completed=started - running,
    )
    return RunResult(
        policy=parts[0].policy,
        trace=trace,
        queues=specs,
        settings=settings,
        history=history,
        published=published,
        scale_events=events,
        reasons=reasons,
    )


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def simulate_groups(
    trace: Trace,
    specs: list[QueueSpec],
    make_controller: ControllerFactory,
    settings: SimSettings,
    groups: list[list[int]],
    *,
    fork: bool = True,
) -> RunResult:
    """Simulate each group of queue indices apart (in its own process if ``fork``); merged.

    ``groups`` must partition the queues' indices; a group's indices may come in any order.
    """
    if sorted(i for g in groups for i in g) != list(range(len(specs))) or not all(groups):
        raise ValueError(f"groups {groups} do not partition the {len(specs)} queues")
    jobs = [partial(_run_group, trace, specs, make_controller, settings, g) for g in groups]
    parts = _forked(jobs) if fork and len(jobs) > 1 and can_fork() else [job() for job in jobs]
    return _merge(trace, specs, settings, groups, parts)


def simulate_parallel(
    trace: Trace,
    specs: list[QueueSpec],
    make_controller: ControllerFactory,
    settings: SimSettings,
    jobs: int | None = None,
) -> RunResult:
    """Simulate over ``jobs`` processes (default: one per CPU); ``jobs=1`` runs in-process."""
    jobs = jobs or os.cpu_count() or 1
    if jobs <= 1 or len(specs) <= 1 or not can_fork():
        return simulate(trace, specs, make_controller(specs), settings)
    return simulate_groups(trace, specs, make_controller, settings, split(len(specs), jobs))
