"""Reading one YAML mapping field by field, with errors that name the path of the field.

A :class:`Fields` takes the keys it knows and, at :meth:`Fields.done`, refuses any key it did
not take, so a typo (``minReplica``) stops the load instead of being ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ConfigError(ValueError):
    """A configuration value is wrong; the message starts with the field's path."""


class Fields:
    def __init__(self, path: str, data: object) -> None:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path or 'the file'}: expected a mapping, got {_kind(data)}")
        self.path = path
        self.data: Mapping[str, Any] = data
        self.taken: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.where(key)}: {message}")

    def raw(self, key: str) -> Any:
        self.taken.add(key)
        return self.data.get(key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def integer(self, key: str, default: int | None, *, minimum: int = 0) -> int | None:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer >= {minimum}, got {value!r}")
        if value < minimum:
            raise self.error(key, f"must be >= {minimum}, got {value}")
        return value

    def required_integer(self, key: str, *, minimum: int = 0) -> int:
        value = self.integer(key, None, minimum=minimum)
        if value is None:
            raise self.error(key, "is required")
        return value

    def number(self, key: str, default: float | None, *, positive: bool = False) -> float | None:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {value!r}")
        if positive and not value > 0:
            raise self.error(key, f"must be > 0, got {value}")
        if not positive and value < 0:
            raise self.error(key, f"must be >= 0, got {value}")
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def text(self, key: str, default: str | None) -> str | None:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {value!r}")
        return value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise self.error(key, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def items(self, key: str) -> list[Any]:
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {_kind(value)}")
        return value

    def sub(self, key: str) -> Fields:
        return Fields(self.where(key), self.raw(key))

    def done(self, *, ignore: tuple[str, ...] = ()) -> None:
        unknown = sorted(str(k) for k in self.data if k not in self.taken and k not in ignore)
        if unknown:
            raise self.error(unknown[0], "unknown field (check the spelling)")


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return repr(value)
