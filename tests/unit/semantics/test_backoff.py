"""Backoff maths: a table of known values and properties over every input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.backoff import compute_backoff


def _never_called() -> float:
    raise AssertionError("rand must not be called without jitter")


@pytest.mark.parametrize(
    ("attempt", "base_s", "factor", "max_backoff_s", "expected"),
    [
        (0, 1.0, 2.0, 600.0, 1.0),
        (1, 1.0, 2.0, 600.0, 2.0),
        (3, 1.0, 2.0, 600.0, 8.0),
        (9, 1.0, 2.0, 600.0, 512.0),
        (10, 1.0, 2.0, 600.0, 600.0),
        (2, 0.5, 3.0, 600.0, 4.5),
        (5, 0.0, 2.0, 600.0, 0.0),
        (4, 2.0, 1.0, 600.0, 2.0),
        (100_000, 1.0, 2.0, 30.0, 30.0),
    ],
)
def test_ceiling_without_jitter_grows_exponentially_up_to_the_cap(
    attempt: int, base_s: float, factor: float, max_backoff_s: float, expected: float
) -> None:
    delay = compute_backoff(
        attempt,
        base_s=base_s,
        factor=factor,
        max_backoff_s=max_backoff_s,
        jitter=False,
        rand=_never_called,
    )
    assert delay == pytest.approx(expected)


@pytest.mark.parametrize(
    ("attempt", "draw", "expected"),
    [(0, 0.0, 0.0), (0, 0.5, 0.5), (3, 0.25, 2.0), (20, 0.5, 30.0), (20, 0.999, 59.94)],
)
def test_full_jitter_scales_the_ceiling_by_the_draw(
    attempt: int, draw: float, expected: float
) -> None:
    delay = compute_backoff(
        attempt, base_s=1.0, factor=2.0, max_backoff_s=60.0, jitter=True, rand=lambda: draw
    )
    assert delay == pytest.approx(expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempt": -1},
        {"base_s": -1.0},
        {"max_backoff_s": -0.5},
        {"factor": 0.5},
    ],
)
def test_rejects_inputs_that_make_no_sense(kwargs: dict[str, float]) -> None:
    args: dict[str, float] = {"attempt": 0, "base_s": 1.0, "factor": 2.0, "max_backoff_s": 1.0}
    args.update(kwargs)
    with pytest.raises(ValueError):
        compute_backoff(
            int(args["attempt"]),
            base_s=args["base_s"],
            factor=args["factor"],
            max_backoff_s=args["max_backoff_s"],
            jitter=False,
            rand=lambda: 0.0,
        )


@given(
    attempt=st.integers(min_value=0, max_value=10_000),
    base_s=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    factor=st.floats(min_value=1, max_value=100, allow_nan=False),
    max_backoff_s=st.floats(min_value=0, max_value=1e7, allow_nan=False),
    jitter=st.booleans(),
    draw=st.floats(min_value=-1, max_value=2, allow_nan=False),
)
def test_never_negative_and_never_above_the_cap(
    attempt: int,
    base_s: float,
    factor: float,
    max_backoff_s: float,
    jitter: bool,
    draw: float,
) -> None:
    delay = compute_backoff(
        attempt,
        base_s=base_s,
        factor=factor,
        max_backoff_s=max_backoff_s,
        jitter=jitter,
        rand=lambda: draw,
    )
    assert 0.0 <= delay <= max_backoff_s


@given(
    attempt=st.integers(min_value=0, max_value=500),
    base_s=st.floats(min_value=0, max_value=100, allow_nan=False),
    factor=st.floats(min_value=1, max_value=10, allow_nan=False),
    max_backoff_s=st.floats(min_value=0, max_value=1e5, allow_nan=False),
)
def test_the_ceiling_never_shrinks_from_one_attempt_to_the_next(
    attempt: int, base_s: float, factor: float, max_backoff_s: float
) -> None:
    def ceiling(n: int) -> float:
        return compute_backoff(
            n,
            base_s=base_s,
            factor=factor,
            max_backoff_s=max_backoff_s,
            jitter=False,
            rand=_never_called,
        )

    assert ceiling(attempt + 1) >= ceiling(attempt)
