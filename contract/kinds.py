"""The kinds of setting values: one parser each, for text and for a YAML value alike. Pure.

Text is what an environment variable or an option holds (trimmed, except by :class:`Text`);
a YAML value keeps its type, so ``"5"`` is not an integer there. The rules are the same:

- an integer is a whole number: ``5`` and ``5.0`` read as 5 (JSON Schema's ``integer``, which
  the chart's schema applies, counts 5.0 as one; Helm writes every number as a float), ``5.5``
  and ``true`` are errors;
- numbers are finite (no ``nan``, no ``inf``);
- a choice compares exactly in YAML (as the chart's ``enum``) and, in text, after folding case
  where the kind says so (``SHOAL_POOL=GEVENT``);
- a list is a YAML list, or text separated by commas.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from contract.fields import ConfigError, Helm, Invalid, Kind, number_text, shown

T = TypeVar("T")
UNITS = {"s": "seconds", "kB": "kilobytes"}


def _bounds(
    minimum: float | None, maximum: float | None, *, exclusive_minimum: bool = False
) -> str:
    """`` from 0 to 9``, `` >= 1``, `` > 0 and <= 300``: the bounds as a message writes them."""
    if minimum is not None and maximum is not None and not exclusive_minimum:
        return f" from {number_text(minimum)} to {number_text(maximum)}"
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if exclusive_minimum else '>='} {number_text(minimum)}")
    if maximum is not None:
        parts.append(f"<= {number_text(maximum)}")
    return " " + " and ".join(parts) if parts else ""


def _noun(base: str, unit: str | None) -> str:
    return base if unit is None else f"{base} of {UNITS.get(unit, unit)}"


class Integer(Kind[int]):
    """A whole number within bounds; ``unit`` names what it counts (``s``)."""

    json_type = "integer"

    def __init__(
        self,
        minimum: int | None = None,
        maximum: int | None = None,
        *,
        unit: str | None = None,
        what: str | None = None,
    ) -> None:
        self.minimum, self.maximum, self.unit = minimum, maximum, unit
        self.what = what or (_noun("a whole number", unit) if unit else "an integer")

    def describe(self) -> str:
        return self.what + _bounds(self.minimum, self.maximum)

    def parse_text(self, text: str) -> int:
        word = text.strip()
        try:
            value = int(word)
        except ValueError:
            try:
                number = float(word)
            except ValueError:
                raise self.fail(text) from None
            if not number.is_integer():  # 5.5, nan, inf
                raise self.fail(text) from None
            value = int(number)
        if not self._within(value):
            raise self.fail(text)
        return value

    def parse_value(self, value: object, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(value)
        if isinstance(value, float) and not value.is_integer():
            raise self.fail(value)
        if not self._within(int(value)):
            raise self.fail(value)
        return int(value)

    def _within(self, value: int) -> bool:
        low = self.minimum is None or value >= self.minimum
        return low and (self.maximum is None or value <= self.maximum)

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out


class Number(Kind[float]):
    """A finite number within bounds (``exclusive_minimum``: strictly above ``minimum``);
    ``whole`` takes whole numbers only (seconds a Kubernetes field counts in)."""

    json_type = "number"

    def __init__(
        self,
        minimum: float | None = None,
        maximum: float | None = None,
        *,
        exclusive_minimum: bool = False,
        whole: bool = False,
        unit: str | None = None,
    ) -> None:
        self.minimum, self.maximum, self.unit = minimum, maximum, unit
        self.exclusive_minimum, self.whole = exclusive_minimum, whole
        self.what = _noun("a whole number" if whole else "a number", unit)

    def describe(self) -> str:
        return self.what + _bounds(
            self.minimum, self.maximum, exclusive_minimum=self.exclusive_minimum
        )

    def parse_text(self, text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise self.fail(text) from None
        if not self._ok(value):
            raise self.fail(text)
        return value

    def parse_value(self, value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(value)
        if not self._ok(float(value)):
            raise self.fail(value)
        return float(value)

    def _ok(self, value: float) -> bool:
        if not math.isfinite(value) or (self.whole and not value.is_integer()):
            return False
        if self.minimum is not None and (
            value <= self.minimum if self.exclusive_minimum else value < self.minimum
        ):
            return False
        return self.maximum is None or value <= self.maximum

    def to_value(self, value: float) -> object:
        return int(value) if self.whole else value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer" if self.whole else "number"}
        if self.minimum is not None:
            out["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out


class Boolean(Kind[bool]):
    """``true`` or ``false`` in YAML; in text also ``1``/``0``, ``yes``/``no``, ``on``/``off``."""

    json_type = "boolean"
    what = "true or false"
    TRUE = ("true", "1", "yes", "on")
    FALSE = ("false", "0", "no", "off")

    option_action = "boolean"

    def parse_text(self, text: str) -> bool:
        word = text.strip().lower()
        if word in self.TRUE or word in self.FALSE:
            return word in self.TRUE
        raise self.fail(text)

    def parse_value(self, value: object, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(value)
        return value


class Text(Kind[str]):
    """A string. With a ``pattern`` (and the ``rule`` it stands for) the text is trimmed and must
    match; without one it is kept as given (a separator, a password, a pod name)."""

    def __init__(
        self, *, pattern: str | None = None, rule: str | None = None, min_length: int = 0
    ) -> None:
        self.pattern, self.min_length = pattern, min_length
        self._regex = re.compile(pattern) if pattern else None
        self.what = rule or ("a non-empty string" if min_length else "a string")

    def parse_text(self, text: str) -> str:
        return self._checked(text.strip() if self._regex else text, text)

    def parse_value(self, value: object, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(value)
        return self._checked(value, value)

    def _checked(self, value: str, written: object) -> str:
        if len(value) < self.min_length or (self._regex and not self._regex.match(value)):
            raise self.fail(written)
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string"}
        if self.pattern:
            out["pattern"] = self.pattern
        if self.min_length:
            out["minLength"] = self.min_length
        return out


class Choice(Kind[T]):
    """One of a fixed set of words (or a ``StrEnum``'s members); in text, ``fold`` (``str.lower``,
    ``str.upper``) is applied first."""

    def __init__(self, values: Sequence[T], *, fold: Callable[[str], str] | None = None) -> None:
        self.values = tuple(values)
        self.fold = fold
        self.what = "one of " + ", ".join(str(v) for v in self.values)

    def parse_text(self, text: str) -> T:
        word = text.strip()
        word = self.fold(word) if self.fold else word
        for value in self.values:
            if str(value) == word:
                return value
        raise self.fail(text)

    def parse_value(self, value: object, where: str) -> T:
        for choice in self.values:
            if isinstance(value, str) and str(choice) == value:
                return choice
        raise self.fail(value)

    def to_value(self, value: T) -> object:
        return str(value)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": [str(v) for v in self.values]}


class ListOf(Kind[tuple[T, ...]], Generic[T]):
    """A list of ``item``: a YAML list, or text separated by commas (``a,b``). ``what`` names the
    items in the plural for messages (``queue names``)."""

    json_type = "array"
    option_action = "append"

    def __init__(self, item: Kind[T], *, what: str, min_items: int = 0) -> None:
        self.item, self.min_items = item, min_items
        self.plural = what
        self.what = f"a list of {what}"

    def parse_text(self, text: str) -> tuple[T, ...]:
        words = [word.strip() for word in text.split(",") if word.strip()]
        if len(words) < self.min_items:
            raise Invalid(f"expected one or more {self.plural} separated by commas, got {text!r}")
        return tuple(self.item.parse_text(word) for word in words)

    def parse_value(self, value: object, where: str) -> tuple[T, ...]:
        if not isinstance(value, list):
            raise self.fail(value)
        if len(value) < self.min_items:
            raise Invalid(f"expected one or more {self.plural}, got an empty list")
        out = []
        for index, item in enumerate(value):
            try:
                out.append(self.item.parse_value(item, f"{where}[{index}]"))
            except Invalid as exc:
                raise ConfigError(f"{where}[{index}]", str(exc)) from None
        return tuple(out)

    def to_value(self, value: tuple[T, ...]) -> object:
        return [self.item.to_value(v) for v in value]

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.item.schema()}


class AnyList(Kind[tuple[Any, ...]]):
    """Any YAML list (a task's ``args``)."""

    json_type = "array"
    what = "a list"

    def parse_value(self, value: object, where: str) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise self.fail(value)
        return tuple(value)

    def to_value(self, value: tuple[Any, ...]) -> object:
        return list(value)


class AnyMapping(Kind[Mapping[str, Any]]):
    """Any YAML mapping with string keys (a task's ``kwargs``)."""

    json_type = "object"
    what = "a mapping"

    def parse_value(self, value: object, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(value)
        for key in value:
            if not isinstance(key, str):
                raise Invalid(f"expected a mapping with string keys, got the key {shown(key)}")
        return dict(value)

    def to_value(self, value: Mapping[str, Any]) -> object:
        return dict(value)


def port() -> Integer:
    """A TCP port to listen on; 0 turns the endpoint off."""
    return Integer(0, 65_535, what="a port")


def container_port(path: str) -> Helm:
    """The Helm values path of a port a pod listens on. The chart's schema starts at 1: its
    probes and Service use the port, so 0 (off) is for processes run by hand."""
    return Helm(path, {"minimum": 1}, "a container port cannot be 0 (off) in the chart")
