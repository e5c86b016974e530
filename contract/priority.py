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
from typing import Any

from contract.fields import Invalid, Kind, Setting, declared, read_env
from contract.kinds import Text

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


class PrioritySteps(Kind[tuple[int, ...]]):
    """Kombu's priority steps: ``0,3,6,9`` as text, ``[0, 3, 6, 9]`` in YAML (see
    :func:`check_steps`)."""

    json_type = "array"
    what = "integers from 0 to 9 including 0"

    def parse_text(self, text: str) -> tuple[int, ...]:
        words = [word.strip() for word in text.split(",") if word.strip()]
        return self.parse_value([int(w) if w.isdigit() else w for w in words], "")

    def parse_value(self, value: object, where: str) -> tuple[int, ...]:
        if not isinstance(value, list | tuple):
            raise self.fail(value)
        try:
            return check_steps(value)
        except ValueError as exc:
            raise Invalid(str(exc)) from None

    def to_value(self, value: tuple[int, ...]) -> object:
        return list(value)

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": HIGHEST}}


STEPS = Setting(
    PrioritySteps(),
    DEFAULT_STEPS,
    "Kombu's priority steps: one list per step, 0 being the queue's own.",
    key="steps",
    env=STEPS_ENV,
    helm="priority.steps",
)
SEPARATOR = Setting(
    Text(min_length=1),
    DEFAULT_SEPARATOR,
    "Kombu's separator between a queue's name and a step in a list's name.",
    key="separator",
    env=SEPARATOR_ENV,
    helm="priority.separator",
)


@dataclass(frozen=True)
class Priorities:
    """The priority layout every process of one installation shares."""

    steps: tuple[int, ...] = STEPS.field()
    separator: str = SEPARATOR.field()

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", check_steps(self.steps))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Priorities:
        """``SHOAL_PRIORITY_STEPS`` (``0,3,6,9``) and ``SHOAL_PRIORITY_SEP``, as the chart sets
        them on every pod; :class:`contract.fields.ConfigError` names the variable."""
        return cls(**read_env(declared(cls), env))

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
