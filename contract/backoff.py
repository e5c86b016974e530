"""Retry backoff as one pure function: exponential growth, a cap, and full jitter."""

from __future__ import annotations

from collections.abc import Callable


def compute_backoff(
    attempt: int,
    *,
    base_s: float,
    factor: float,
    max_backoff_s: float,
    jitter: bool,
    rand: Callable[[], float],
) -> float:
    """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0).

    The ceiling is ``min(max_backoff_s, base_s * factor ** attempt)``. With ``jitter`` the
    delay is drawn uniformly from ``[0, ceiling]`` ("full jitter"), which spreads a herd of
    retries out; ``rand`` returns a number in ``[0, 1)`` and is injected so tests need no
    randomness. The result is never negative and never above ``max_backoff_s``.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    if base_s < 0 or max_backoff_s < 0:
        raise ValueError("base_s and max_backoff_s must be >= 0")
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    try:
        ceiling = min(max_backoff_s, base_s * factor**attempt)
    except OverflowError:
        ceiling = max_backoff_s
    if not jitter:
        return ceiling
    share = min(1.0, max(0.0, rand()))
    return ceiling * share
