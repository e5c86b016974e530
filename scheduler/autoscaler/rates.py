"""Arrival and completion rates, smoothed, and the oldest task's age when no header tells. Pure.

Arrival is the growth of everything the queue has ever seen, ``backlog + in_flight +
completed``; completion the growth of ``completed``. Both are smoothed with a time-based EWMA
(``half_life_s``), so an uneven poll interval weighs each sample by the time it covers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple


class RateState(NamedTuple):
    at: float | None = None
    total: int = 0
    completed: int = 0
    arrival_per_s: float = 0.0
    completion_per_s: float = 0.0
    backlog_since: float | None = None
    """When the backlog was last seen going from empty to non-empty."""


_state: Callable[[tuple[Any, ...]], RateState] = functools.partial(tuple.__new__, RateState)
"""``RateState(*fields)`` without the NamedTuple's Python-level ``__new__`` (one per queue and
poll in the controller)."""


def ewma(previous: float, sample: float, dt_s: float, half_life_s: float) -> float:
    """``previous`` moved towards ``sample`` by the weight of ``dt_s`` seconds."""
    return _toward(previous, sample, _weight(dt_s, half_life_s))


def _weight(dt_s: float, half_life_s: float) -> float:
    """How far ``dt_s`` seconds move a smoothed value towards a sample (1: all the way)."""
    if half_life_s <= 0:
        return 1.0
    return 1.0 - math.pow(0.5, dt_s / half_life_s)


def _toward(previous: float, sample: float, weight: float) -> float:
    if weight == 1.0:
        return sample
    return previous + weight * (sample - previous)


def update_rates(
    state: RateState,
    *,
    at: float,
    backlog: int,
    in_flight: int,
    completed: int,
    half_life_s: float = 10.0,
) -> RateState:
    """The rates after one more sample at ``at`` (seconds)."""
    total = backlog + in_flight + completed
    last_at, last_total, last_completed, arrival_per_s, completion_per_s, since = state
    if backlog <= 0:
        since = None
    elif since is None:
        since = at
    if last_at is None or at <= last_at or completed < last_completed:
        # First sample, a clock that did not move, or a counter reset: no rate from this pair.
        return _state((at, total, completed, arrival_per_s, completion_per_s, since))
    dt = at - last_at
    arrival = (total - last_total) / dt
    completion = (completed - last_completed) / dt
    weight = _weight(dt, half_life_s)
    return _state(
        (
            at,
            total,
            completed,
            _toward(arrival_per_s, arrival if arrival > 0.0 else 0.0, weight),
            _toward(completion_per_s, completion if completion > 0.0 else 0.0, weight),
            since,
        )
    )


def quiet_samples(state: RateState, times: Iterable[float], *, half_life_s: float) -> RateState:
    """:func:`update_rates` over samples at ``times`` in which nothing waited, was in flight,
    arrived or completed: the same numbers, without building a state per sample (the
    simulator replays the quiet polls it skipped with this)."""
    at, arrival, completion = state.at, state.arrival_per_s, state.completion_per_s
    for t in times:
        if at is not None and t > at:
            weight = _weight(t - at, half_life_s)
            arrival = _toward(arrival, 0.0, weight)
            completion = _toward(completion, 0.0, weight)
        at = t
    return RateState(at, state.total, state.completed, arrival, completion, None)


def estimate_oldest_age_s(
    *, backlog: int, backlog_since: float | None, arrival_per_s: float, now: float
) -> float | None:
    """The oldest waiting task's age when no message carries ``published_at``.

    At most the time the backlog has been non-empty; with a known arrival rate, the time the
    backlog took to build up at that rate (Little's law), whichever is smaller.
    """
    if backlog <= 0 or backlog_since is None:
        return None
    bound = max(0.0, now - backlog_since)
    if arrival_per_s > 0:
        return min(bound, backlog / arrival_per_s)
    return bound
