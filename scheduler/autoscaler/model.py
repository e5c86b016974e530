"""What the policy reads and returns: one queue's observation, its memory, and a decision.

All immutable named tuples (the policy builds several per queue per poll, and the simulator
millions per run: a named tuple costs a fraction of a frozen dataclass to build); time is a
float of seconds on any one clock the caller keeps consistent (the controller uses the
monotonic clock, the simulator its own), never read here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Reason(StrEnum):
    """Why a decision came out as it did: the step that set the final number."""

    STEADY = "steady"
    """The targets ask for the replicas there are."""
    BACKLOG = "backlog"
    """Sized by targetBacklogPerReplica over tasks waiting plus in flight."""
    LATENCY = "latency"
    """Sized by targetLatencySeconds from the arrival and completion rates."""
    ACTIVATION = "activation"
    """Woken from zero: the backlog is above activationBacklog (or work is in flight)."""
    IDLE = "idle"
    """At zero with no backlog above activationBacklog: stays at zero."""
    COOLDOWN = "cooldown"
    """Idle, but cooldownSeconds have not passed since the last work: held at one or more."""
    SCALE_TO_ZERO = "scale-to-zero"
    """Idle for cooldownSeconds with minReplicas 0."""
    IN_FLIGHT_FLOOR = "in-flight-floor"
    """Held up so the work in flight keeps its replicas: ceil(in_flight / concurrency)."""
    WORK_WAITING = "work-waiting"
    """Held at one: a replica never goes away while any task waits, is in flight or is held by
    a dead worker (it is back in the queue within seconds)."""
    DELAYED_DUE = "delayed-due"
    """Woken (or kept at one) for delayed tasks: the first is due within podStartupSeconds plus
    the poll interval, so a replica is ready when it is due."""
    MIN_REPLICAS = "min-replicas"
    MAX_REPLICAS = "max-replicas"
    STABILIZATION = "stabilization"
    """Held by the scaleUp/scaleDown stabilizationWindowSeconds."""
    RATE_LIMITED = "rate-limited"
    """Limited by the scaleUp/scaleDown policies (or selectPolicy Disabled)."""
    OBSERVATION_FAILED = "observation-failed"
    """The observation failed: replicas held (never lowered)."""
    FALLBACK = "fallback"
    """failureThreshold observations failed in a row: fallbackReplicas (never lowers)."""
    DISABLED = "disabled"
    """autoscaling.enabled is false: the controller leaves replicas alone."""


class Reading(NamedTuple):
    """What a queue source measured for one queue; the controller adds the current replicas."""

    backlog: int = 0
    in_flight: int = 0
    oldest_age_s: float | None = None
    arrival_rate_per_s: float = 0.0
    completion_rate_per_s: float = 0.0
    ok: bool = True
    error: str = ""
    waiting: tuple[int, ...] = ()
    """Tasks waiting per priority step, in the order of the steps (the queue's own list, for
    priorities below the second step, first); they sum to ``backlog``. Empty: not measured."""
    held_live: int = 0
    held_dead: int = 0
    delayed: int = 0
    next_due_in_s: float | None = None
    """The fields of :class:`Observation` of the same names."""

    @classmethod
    def failed(cls, error: str) -> Reading:
        return cls(ok=False, error=error)


class Observation(NamedTuple):
    """One queue at one instant. ``ok=False`` means the observation failed (counts unknown)."""

    backlog: int = 0
    """Tasks waiting, summed over the queue's list and all its priority lists."""
    in_flight: int = 0
    """Tasks that workers hold (prefetched or running), from the in-flight accounting."""
    oldest_age_s: float | None = None
    """Age of the oldest waiting task; None when nothing waits or it is unknown."""
    arrival_rate_per_s: float = 0.0
    completion_rate_per_s: float = 0.0
    current_replicas: int = 0
    ok: bool = True
    held_live: int = 0
    """Tasks live workers hold in their held records (running, prefetched or waiting for an
    ETA due soon): never scaled to zero while there are any."""
    held_dead: int = 0
    """Tasks held by workers known dead, not yet given back: work that is back in the queue
    within seconds, counted with the waiting tasks."""
    delayed: int = 0
    """Tasks waiting in the queue's delayed set for their due time (not work yet)."""
    next_due_in_s: float | None = None
    """Seconds from this observation until the first delayed task is due (negative: overdue);
    None when nothing is delayed."""
    next_look_in_s: float = 0.0
    """Seconds until the controller decides again (its poll interval): what is due before then
    must be woken for now."""

    @classmethod
    def failed(cls, current_replicas: int) -> Observation:
        return cls(current_replicas=current_replicas, ok=False)

    @classmethod
    def of(cls, reading: Reading, current_replicas: int, *, next_look_in_s: float) -> Observation:
        if not reading.ok:
            return cls.failed(current_replicas)
        return cls(
            reading.backlog,
            reading.in_flight,
            reading.oldest_age_s,
            reading.arrival_rate_per_s,
            reading.completion_rate_per_s,
            current_replicas,
            True,
            reading.held_live,
            reading.held_dead,
            reading.delayed,
            reading.next_due_in_s,
            next_look_in_s,
        )


class Recommendation(NamedTuple):
    """A raw recommendation kept for the stabilization windows."""

    at: float
    replicas: int


class ScaleEvent(NamedTuple):
    """A change the policy made, kept for the scaleUp/scaleDown rate policies."""

    at: float
    change: int
    """Positive for a scale-up, negative for a scale-down."""


class Recent(NamedTuple):
    """The raw recommendations the stabilization windows can still need (see ``stabilize``)."""

    highs: tuple[Recommendation, ...] = ()
    """Within the scaleDown window, each higher than every later one: the first is the
    window's highest."""
    lows: tuple[Recommendation, ...] = ()
    """Within the scaleUp window, each lower than every later one: the first is the lowest."""


class QueueState(NamedTuple):
    """The policy's memory for one queue, returned with every decision."""

    recommendations: Recent = Recent()
    events: tuple[ScaleEvent, ...] = ()
    last_active_at: float | None = None
    """Last time work waited or was in flight (None: not observed yet)."""
    consecutive_failures: int = 0
    capacity_per_replica_per_s: float | None = None
    """Tasks one busy replica completes per second, learnt from the rates (latency target)."""

    @classmethod
    def initial(cls) -> QueueState:
        return cls()


Note = tuple[str, tuple[object, ...]]
"""A piece of a decision's explanation: a printf-style format and its values."""


def note(text: str, *values: object) -> Note:
    return (text, values)


class Decision(NamedTuple):
    desired: int
    state: QueueState
    reason: Reason
    notes: tuple[Note, ...] = ()
    """What led to the number, step by step; formatted only when :attr:`detail` is read (the
    controller reads it for changes and the status, the simulator hardly ever)."""

    @property
    def detail(self) -> str:
        """The notes as one line a person can read, e.g. ``waiting 300 + in flight 0 over 100
        per replica -> 3; scaleUp policies allow 2``."""
        return "; ".join(text % values for text, values in self.notes)
