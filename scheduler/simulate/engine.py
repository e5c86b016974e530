"""The simulation loop: arrivals, service, pods and a controller, one step at a time.

Each step of ``step_s``: pods whose start delay ended become ready; every queue serves for one
step with its ready slots; every ``poll_interval_s`` the controller sees a :class:`View` (built
the way the autoscaler's Redis source measures) and its desired replicas are applied. What
every step looked like is kept in :class:`History` for the report and the plot. Delayed tasks
(a trace's ``delay_s``) sit in the queue's delayed set, seen by the controller as a count and a
first due time, until the step they are due, when they arrive in the queue.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from scheduler.simulate.binned import Trace
from scheduler.simulate.controllers import Controller, IntArray, QueueSpec, View
from scheduler.simulate.pods import Pods
from scheduler.simulate.service import ServiceKind, ServiceModel, make_service

I32Array = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SimSettings:
    step_s: float = 1.0
    """Simulated time per step."""
    start_delay_s: float = 10.0
    """From a scale-up decision to the new pod consuming (scheduling, image, worker start)."""
    stop_delay_s: float = 2.0
    """From a scale-in decision to a removed pod being gone, once its tasks are done (the
    worker's shutdown and exit); it is paid for meanwhile."""
    service: ServiceKind = ServiceKind.EXPONENTIAL
    seed: int = 0
    """Seed of the exponential service model's draws: same seed, same result."""
    priority_fraction: float = 0.0
    """Share of tasks published with priority 3..9 (kept in the priority sub-lists, invisible
    to an ``LLEN`` of the base list). Traces carry no priority, so the default assumes none."""
    tail_s: float = 900.0
    """Quiet time simulated after the last arrival (drain, scale-down and cooldown)."""


@dataclass(frozen=True)
class History:
    """Per step (rows) and queue (columns)."""

    waiting: I32Array
    """Tasks published and not started (in the lists or reserved by a worker)."""
    running: I32Array
    """Tasks started and not completed."""
    replicas: I32Array
    """Ready + starting pods (the Deployment's replicas)."""
    billed: I32Array
    """Pods paid for: ready + starting + scaled-in pods still finishing or stopping."""
    started: npt.NDArray[np.int64]
    """Cumulative tasks started."""
    completed: npt.NDArray[np.int64]
    """Cumulative tasks completed."""


@dataclass(frozen=True)
class RunResult:
    policy: str
    trace: Trace
    queues: list[QueueSpec]
    settings: SimSettings
    history: History
    published: npt.NDArray[np.int64]
    """Cumulative tasks published, per step and queue."""
    scale_events: IntArray
    reasons: list[dict[str, int]]


class _Tracker:
    """Finds each queue's oldest task still waiting from cumulative arrivals, in one call."""

    def __init__(self, published: npt.NDArray[np.int64]) -> None:
        steps, queues = published.shape
        self.stride = int(published[-1].max(initial=0)) + 1 if steps else 1
        offsets = np.arange(queues, dtype=np.int64) * self.stride
        self.flat = (published.T + offsets[:, None]).ravel()
        self.offsets = offsets
        self.row_starts = np.arange(queues, dtype=np.int64) * steps

    def arrival_step(self, index: IntArray, queues: IntArray | None = None) -> IntArray:
        """The step in which task number ``index + 1`` of each queue (or of ``queues``) was
        published."""
        if queues is None:
            found = np.searchsorted(self.flat, index + self.offsets, side="right")
            steps: IntArray = found - self.row_starts
            return steps
        found = np.searchsorted(self.flat, index + self.offsets[queues], side="right")
        some: IntArray = found - self.row_starts[queues]
        return some


def _view(
    t: int,
    model: ServiceModel,
    held: IntArray,
    replicas: IntArray,
    tracker: _Tracker,
    published: IntArray,
    settings: SimSettings,
    parked: tuple[IntArray, FloatArray],
) -> View:
    """What the controller sees; ``held`` is each queue's ready pods x tasks a pod holds."""
    busy = model.busy()
    waiting = model.backlog
    reserved = np.minimum(np.maximum(held - busy, 0), waiting)
    in_list = waiting - reserved
    started = published - waiting
    age = np.zeros(in_list.shape)
    listed = np.flatnonzero(in_list)  # only queues with a task in the list have an oldest
    if listed.size:
        oldest_step = tracker.arrival_step((started + reserved)[listed], listed)
        age[listed] = (t - oldest_step) * settings.step_s
    base = in_list
    if settings.priority_fraction:
        base = in_list - np.floor(in_list * settings.priority_fraction).astype(np.int64)
    return View(
        now_s=t * settings.step_s,
        backlog=in_list,
        base_backlog=base,
        in_flight=busy + reserved,
        oldest_age_s=age,
        published=published,
        completed=started - model.running,
        replicas=replicas,
        delayed=parked[0],
        next_due_s=parked[1],
    )


class _Recorder:
    """Keeps what each step looked like: rows for the queue state, change points for pods.

    Rows are kept as the model's own arrays (it replaces them every step, never changes them)
    and copied into the tables a block at a time, which is cheaper than a row at a time.
    """

    FLUSH = 4096

    def __init__(self, steps: int, queues: int) -> None:
        self.waiting: I32Array = np.zeros((steps, queues), dtype=np.int32)
        self.running: I32Array = np.zeros((steps, queues), dtype=np.int32)
        self.draining: I32Array = np.zeros((steps, queues), dtype=np.int32)
        self.replica_changes: list[tuple[int, IntArray, IntArray]] = []
        """(step, replicas, stopping pods) whenever either changes."""
        self._at: list[int] = []
        self._waiting: list[IntArray] = []
        self._running: list[IntArray] = []

    def row(self, t: int, waiting: IntArray, running: IntArray) -> None:
        self._at.append(t)
        self._waiting.append(waiting)
        self._running.append(running)
        if len(self._at) >= self.FLUSH:
            self.flush()

    def flush(self) -> None:
        if self._at:
            self.waiting[self._at] = np.array(self._waiting)
            self.running[self._at] = np.array(self._running)
        self._at, self._waiting, self._running = [], [], []

    def history(self, published: npt.NDArray[np.int64], concurrency: IntArray) -> History:
        self.flush()
        replicas = np.zeros_like(self.waiting)
        stopping = np.zeros_like(self.waiting)
        changes = [*self.replica_changes, (len(replicas), replicas[0], stopping[0])]
        for (at, value, gone), (until, _, _) in itertools.pairwise(changes):
            replicas[at:until] = value
            stopping[at:until] = gone
        started = published - self.waiting
        draining_pods = np.ceil(self.draining / concurrency).astype(np.int32)
        return History(
            waiting=self.waiting,
            running=self.running,
            replicas=replicas,
            billed=replicas + np.maximum(stopping, draining_pods),
            started=started,
            completed=started - self.running,
        )


@dataclass
class _Deployments:
    """The pods of every queue and what follows from them: slots, held tasks, replicas."""

    pods: Pods
    concurrency: IntArray
    per_pod: IntArray
    """Tasks a busy pod holds: its concurrency plus its reserved (prefetched) tasks."""
    model: ServiceModel
    record: _Recorder
    replicas: IntArray = field(init=False)
    held: IntArray = field(init=False)

    def __post_init__(self) -> None:
        self.changed(0)

    def changed(self, t: int) -> None:
        """The pods changed at step ``t``: new slots, held tasks and replicas, recorded."""
        ready = self.pods.ready
        self.model.set_slots(ready * self.concurrency)
        self.held = ready * self.per_pod
        self.replicas = self.pods.replicas()
        self.record.replica_changes.append((t, self.replicas, self.pods.stopping.copy()))


def simulate(
    trace: Trace, queues: list[QueueSpec], controller: Controller, settings: SimSettings
) -> RunResult:
    """Run ``controller`` over ``trace``; ``queues`` are in the trace's column order."""
    names = [q.name for q in queues]
    if names != list(trace.queues):
        raise ValueError(f"queues {names} do not match the trace's columns {list(trace.queues)}")
    steps, count = trace.arrivals.shape
    step_s = settings.step_s
    published = np.cumsum(trace.arrivals, axis=0)
    tracker = _Tracker(published)
    concurrency = np.array([q.concurrency for q in queues], dtype=np.int64)
    extra = np.array([q.reserved_per_replica for q in queues], dtype=np.int64)
    model = make_service(
        settings.service,
        queues=names,
        step_s=step_s,
        seed=settings.seed,
        max_service_s=float(trace.service_s.max(initial=step_s)),
    )
    pods = Pods(
        controller.initial_replicas(),
        start_delay_steps=round(settings.start_delay_s / step_s),
        stop_delay_steps=round(settings.stop_delay_s / step_s),
    )
    poll_steps = max(1, round(controller.poll_interval_s / step_s))
    record = _Recorder(steps, count)
    deploy = _Deployments(pods, concurrency, concurrency + extra, model, record)
    events = np.zeros(count, dtype=np.int64)
    target = deploy.replicas
    service = trace.service_s
    service_changes = set(np.flatnonzero((service[1:] != service[:-1]).any(axis=1)) + 1)
    model.set_service(service[0])
    arrivals = trace.arrivals
    has_arrivals = [bool(x) for x in np.asarray(arrivals.sum(axis=1) > 0)]
    nothing_parked = (np.zeros(count, dtype=np.int64), np.full(count, np.inf))
    delayed, first_due = trace.delayed, trace.next_due_s
    empty = True
    for t in range(steps):
        if pods.tick(t):
            deploy.changed(t)
        if t in service_changes:
            model.set_service(service[t])
        if has_arrivals[t] or not empty:
            model.step(t, arrivals[t])
            record.row(t, model.backlog, model.running)
            if model.draining:
                record.draining[t] = model.draining_slots()
            empty = not has_arrivals[t] and not (model.running.any() or model.backlog.any())
        if t % poll_steps:
            continue
        parked = nothing_parked
        if delayed is not None and first_due is not None:
            parked = (delayed[t], first_due[t])
        view = _view(
            t, model, deploy.held, deploy.replicas, tracker, published[t], settings, parked
        )
        desired = controller.poll(view)
        changed = np.flatnonzero(desired != target)
        if changed.size:
            for q in changed.tolist():
                pods.scale(q, int(desired[q]))
            events[changed] += 1
            target = desired.copy()
            deploy.changed(t)
    return RunResult(
        policy=controller.name,
        trace=trace,
        queues=queues,
        settings=settings,
        history=record.history(published, concurrency),
        published=published,
        scale_events=events,
        reasons=controller.reasons(),
    )
