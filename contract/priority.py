"""Kombu's priority lists: the steps, the separator, and which list a message goes to.

Kombu's Redis transport keeps a queue as one list per priority step: the queue's own list for
the lowest step and ``<queue><sep><step>`` for the others (``emails``, ``emails\\x06\\x163``,
``emails\\x06\\x166``, ``emails\\x06\\x169`` with the defaults). A message with priority ``p``
goes to the list of the highest step not above ``p``. The workers, the autoscaler, the beat,
the dead-letter requeue and the publisher kit all name lists through this module, with the
steps and separator of :class:`Priorities` (``priority.steps`` / ``priority.separator`` in the
Helm values, ``SHOAL_PRIORITY_STEPS`` / ``SHOAL_PRIORITY_SEP`` in a pod). Pure.
"""

from __future__ import annotations

from bisect import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

STEPS_ENV = "SHOAL_PRIORITY_STEPS"
SEPARATOR_ENV = "SHOAL_PRIORITY_SEP"
DEFAULT_STEPS: tuple[int, ...] = (0, 3, 6, 9)
DEFAULT_SEPARATOR = "\x06\x16"
HIGHEST = 9
"""Priorities run from 0 (the least urgent; also a message without one) to 9 (the most)."""


def check_steps(raw: Iterable[object]) -> tuple[int, ...]:
    """Steps sorted and unique; ``ValueError`` unless they are integers 0-9 including 0."""
    items = list(raw)
    if any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= HIGHEST for s in items):
        raise ValueError(f"expected integers from 0 to 9 including 0, got {items!r}")
    steps = tuple(sorted(set(items)))  # type: ignore[type-var]
    if not steps or steps[0] != 0:
        raise ValueError(f"must include 0 (the queue's own list), got {items!r}")
    return steps  # type: ignore[return-value]


@dataclass(frozen=True)
class Priorities:
    """The priority layout every process of one installation shares."""

    steps: tuple[int, ...] = DEFAULT_STEPS
    separator: str = DEFAULT_SEPARATOR

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", check_steps(self.steps))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Priorities:
        """``SHOAL_PRIORITY_STEPS`` (``0,3,6,9``) and ``SHOAL_PRIORITY_SEP``, as the chart sets
        them on every pod; ``ValueError`` names the variable."""
        raw = (env.get(STEPS_ENV) or "").strip()
        separator = env.get(SEPARATOR_ENV) or DEFAULT_SEPARATOR
        if not raw:
            return cls(DEFAULT_STEPS, separator)
        items = [item.strip() for item in raw.split(",") if item.strip()]
        try:
            steps = check_steps(int(item) if item.isdigit() else item for item in items)
        except ValueError as exc:
            raise ValueError(f"{STEPS_ENV}: {exc}") from None
        return cls(steps, separator)

    def lists(self, queue: str) -> list[str]:
        """Every list of ``queue``, lowest step first (the queue's own list first)."""
        return priority_lists(queue, self.steps, self.separator)

    def list_for(self, queue: str, priority: object) -> str:
        """The list a message of ``priority`` goes to, as kombu's publisher files it."""
        return list_name(queue, self.step_for(priority), self.separator)

    def step_for(self, priority: object) -> int:
        """The step of ``priority`` (clamped to 0-9; anything not a number counts as 0)."""
        value = clamp(priority)
        return self.steps[max(bisect(self.steps, value) - 1, 0)]


def clamp(priority: object) -> int:
    """A message's priority as kombu reads it: an integer 0-9, 0 when absent or unreadable."""
    if priority is None:
        return 0
    try:
        value: int = int(priority)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0
    return min(max(value, 0), HIGHEST)


def priority_lists(
    queue: str, steps: Iterable[int] = DEFAULT_STEPS, sep: str = DEFAULT_SEPARATOR
) -> list[str]:
    """Kombu's Redis lists for ``queue``, lowest step first: the queue's own list for step 0."""
    return [list_name(queue, step, sep) for step in sorted(steps)]


def list_name(queue: str, step: int, separator: str = DEFAULT_SEPARATOR) -> str:
    """Kombu's list for one step: the queue's own list for step 0."""
    return queue if step == 0 else f"{queue}{separator}{step}"


DEFAULT = Priorities()
