"""Every setting declared once, and one way to read it from any source. Pure.

A :class:`Setting` says all there is about one setting (KEDA's struct tags, kopf's settings):
its kind (how a value is parsed and checked: :mod:`contract.kinds`), its default, a one-line
description, and where it comes from: ``env`` (a ``SHOAL_*`` variable), ``options`` (command-line
flags), ``key`` (the YAML key, camelCase; dotted for a key inside a block:
``autoscaling.minReplicas``) and ``helm`` (the Helm values path the chart feeds it from). A frozen
dataclass declares its fields with ``Setting(...).field()``, so the dataclass's default *is* the
declared default, and :func:`declared` reads the declarations back by attribute name (units in
the name: ``task_time_limit_s``).

:func:`read_mapping` reads a YAML mapping and :func:`read_env` the environment and the options;
both refuse what the kind refuses, and a mapping refuses keys nobody declared. Every error is a
:class:`ConfigError` that reads ``<where>: <what is wrong>``, where ``<where>`` is the variable
(``SHOAL_CONCURRENCY``), the option (``--lease-s``) or the YAML path
(``queues[1] (emails).autoscaling.minReplicas``, ``schedules[2] 'nightly'.priority``), and
``<what is wrong>`` is usually ``expected <what the kind takes>, got <the value as written>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, TypeVar

from contract.secrets import FILE_SUFFIX, secret_from_env

if TYPE_CHECKING:
    import argparse

T = TypeVar("T")
_SETTING: Final = "shoal.setting"


class ConfigError(ValueError):
    """A setting is wrong. ``str()`` is ``<where>: <what is wrong>`` (one line)."""

    def __init__(self, where: str, problem: str | None = None) -> None:
        if problem is None:  # a whole message, where included
            where, problem = "", where
        self.where, self.problem = where, problem
        super().__init__(f"{where}: {problem}" if where else problem)


class Invalid(ValueError):
    """What is wrong with one value; the reader adds where it was (:class:`ConfigError`)."""


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final[Any] = _Required()
"""The default of a setting that must be given."""


def shown(value: object) -> str:
    """A value as an error message quotes it: containers by their kind, the rest by repr."""
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return repr(value)


def number_text(value: float) -> str:
    """``300`` for 300.0, ``0.5`` for 0.5: bounds in messages read as people write them."""
    return str(int(value)) if float(value).is_integer() else str(value)


class Kind(Generic[T]):
    """How one kind of value is read: from text (an environment variable or an option) and from
    a typed YAML value, with the same rules and the same messages. Subclasses live in
    :mod:`contract.kinds` and beside the rule they check (queue names, Redis URLs, steps)."""

    json_type: ClassVar[str] = "string"
    option_action: ClassVar[str | None] = None
    """argparse's action for an option of this kind: ``append`` (a list), ``boolean``
    (``--x`` / ``--no-x``)."""
    what: str = "a value"
    unit: str | None = None
    """The unit of a number (``s``), also written in the attribute's name (``timeout_s``)."""

    def describe(self) -> str:
        """What the kind takes, as a message completes ``expected ...``."""
        return self.what

    def fail(self, got: object) -> Invalid:
        return Invalid(f"expected {self.describe()}, got {shown(got)}")

    def parse_text(self, text: str) -> T:
        """The value of an environment variable or an option; :class:`Invalid` if wrong."""
        raise Invalid(f"cannot be given as text (expected {self.describe()})")

    def parse_value(self, value: object, where: str) -> T:
        """A YAML value (never None: a null means the default); :class:`Invalid` if wrong, or
        :class:`ConfigError` with a deeper path for a value inside it."""
        raise NotImplementedError

    def to_value(self, value: T) -> object:
        """``value`` as YAML (and the Helm values) write it."""
        return value

    def schema(self) -> dict[str, Any]:
        """What a JSON schema states about such a value (type, bounds, enum, pattern)."""
        return {"type": self.json_type}


@dataclass(frozen=True)
class Helm:
    """Where the chart takes a setting from, and what its schema states differently on purpose."""

    path: str
    """A path in the values, ``queueDefaults.autoscaling.minReplicas``; ``[]`` is any item."""
    differs: Mapping[str, Any] = field(default_factory=dict)
    """Schema facts (``default``, ``minimum`` ...) the chart sets apart from the declaration."""
    why: str = ""


@dataclass(frozen=True, eq=False)
class Setting(Generic[T]):
    """One setting, declared once. Give it to a dataclass field with :meth:`field`. Two
    settings are the same only if they are one declaration (shared by several dataclasses)."""

    kind: Kind[T]
    default: Any
    """The value when no source gives one; :data:`REQUIRED` when one must."""
    doc: str
    """One line: what the setting does."""
    key: str | None = None
    env: str | None = None
    options: tuple[str, ...] = ()
    helm: Helm | str | None = None
    secret: bool = False
    """Kept out of repr; read from ``<env>`` or the file named by ``<env>_FILE``."""
    factory: Callable[[], T] | None = None
    """Computes the default per instance (the host name) instead of ``default``."""

    def field(self) -> Any:
        """A dataclass field carrying this declaration, with its default."""
        meta = {_SETTING: self}
        if self.factory is not None:
            return field(default_factory=self.factory, metadata=meta, repr=not self.secret)
        if self.default is REQUIRED:
            return field(metadata=meta, repr=not self.secret)
        return field(default=self.default, metadata=meta, repr=not self.secret)

    @property
    def helm_path(self) -> str | None:
        return self.helm.path if isinstance(self.helm, Helm) else self.helm

    @property
    def helm_differs(self) -> Mapping[str, Any]:
        return self.helm.differs if isinstance(self.helm, Helm) else {}

    def schema(self, default: Any = REQUIRED) -> dict[str, Any]:
        """The JSON-schema facts of this setting: its kind's, its default, null if that is its
        default. ``default`` replaces the declared one (a block's own default instance)."""
        value = self.default if default is REQUIRED else default
        if isinstance(self.kind, Nested):
            return self.kind.schema_with(value)
        out = self.kind.schema()
        if value is None:
            out["type"] = [out["type"], "null"]
            out["default"] = None
        elif value is not REQUIRED and self.factory is None:
            out["default"] = self.kind.to_value(value)
        return out


def declared(cls: type) -> dict[str, Setting[Any]]:
    """The settings a dataclass declares, by attribute name, in field order."""
    return {f.name: f.metadata[_SETTING] for f in dataclasses.fields(cls) if _SETTING in f.metadata}


def join(where: str, key: str) -> str:
    """The path of ``key`` inside ``where`` (``queues[1] (emails)`` + ``name``)."""
    return f"{where}.{key}" if where else key


# -- YAML ------------------------------------------------------------------------------------


def read_mapping(
    settings: Mapping[str, Setting[Any]],
    data: object,
    where: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    extra: Collection[str] = (),
    strict: bool = True,
) -> dict[str, Any]:
    """Every setting with a ``key``, by attribute: its value in ``data``, else ``defaults[attr]``,
    else its declared default. A null counts as absent. Keys nobody declared are errors, unless
    listed in ``extra`` (the caller reads those) or ``strict`` is False (the blocks inside stay
    strict)."""
    tree: dict[str, Any] = {}
    for attr, setting in settings.items():
        if setting.key is None:
            continue
        *blocks, last = setting.key.split(".")
        node = tree
        for block in blocks:
            node = node.setdefault(block, {})
        node[last] = attr
    return _read(tree, settings, data, where, defaults or {}, extra, strict)


def as_mapping(data: object, where: str) -> Mapping[Any, Any]:
    """``data`` if a mapping, ``{}`` for null; else a :class:`ConfigError` at ``where``."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(where, f"expected a mapping, got {shown(data)}")
    return data


def refuse_unknown(mapping: Mapping[Any, Any], known: Iterable[str], where: str) -> None:
    """A :class:`ConfigError` naming the first key of ``mapping`` that is not ``known``."""
    names = list(known)
    unknown = sorted(str(key) for key in mapping if key not in names)
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], names, n=1)
        hint = f"did you mean {close[0]}?" if close else "check the spelling"
        raise ConfigError(join(where, unknown[0]), f"unknown field ({hint})")


def _read(
    tree: Mapping[str, Any],
    settings: Mapping[str, Setting[Any]],
    data: object,
    where: str,
    defaults: Mapping[str, Any],
    extra: Collection[str],
    strict: bool,
) -> dict[str, Any]:
    mapping = as_mapping(data, where or "the file")
    if strict:
        refuse_unknown(mapping, [*tree, *extra], where)
    out: dict[str, Any] = {}
    for key, node in tree.items():
        path = join(where, key)
        if isinstance(node, dict):
            out.update(_read(node, settings, mapping.get(key), path, defaults, (), True))
        else:
            out[node] = value_of(
                settings[node], mapping.get(key), path, defaults.get(node, REQUIRED)
            )
    return out


def value_of(setting: Setting[T], raw: object, where: str, fallback: Any = REQUIRED) -> T:
    """One YAML value read by its setting; a null gives ``fallback``, else the default."""
    if raw is None:
        if fallback is not REQUIRED:
            return fallback  # type: ignore[no-any-return]
        if setting.factory is not None:
            return setting.factory()
        if setting.default is REQUIRED:
            raise ConfigError(where, "is required")
        return setting.default  # type: ignore[no-any-return]
    try:
        if isinstance(setting.kind, Nested):
            base = setting.default if fallback is REQUIRED else fallback
            return setting.kind.read(raw, where, base)  # type: ignore[no-any-return]
        return setting.kind.parse_value(raw, where)
    except Invalid as exc:
        raise ConfigError(where, str(exc)) from None


D = TypeVar("D")


class Nested(Kind[D]):
    """A block read into its own frozen dataclass; a key it leaves out keeps the value of the
    setting's default instance (``scaleDown: {stabilizationWindowSeconds: 10}`` keeps the
    default policies)."""

    json_type = "object"
    what = "a mapping"

    def __init__(self, cls: type[D]) -> None:
        self.cls = cls

    def read(self, value: object, where: str, base: object) -> D:
        settings = declared(self.cls)
        defaults = {} if base in (None, REQUIRED) else {a: getattr(base, a) for a in settings}
        return self.cls(**read_mapping(settings, value, where, defaults=defaults))

    def parse_value(self, value: object, where: str) -> D:
        return self.read(value, where, None)

    def to_value(self, value: D) -> object:
        return {
            s.key: s.kind.to_value(getattr(value, attr))
            for attr, s in declared(self.cls).items()
            if s.key
        }

    def schema_with(self, base: object) -> dict[str, Any]:
        settings = declared(self.cls)
        properties = {
            s.key: s.schema(REQUIRED if base in (None, REQUIRED) else getattr(base, attr))
            for attr, s in settings.items()
            if s.key
        }
        return {"type": "object", "properties": properties}

    def schema(self) -> dict[str, Any]:
        return self.schema_with(None)


# -- environment and options -----------------------------------------------------------------


def read_env(
    settings: Mapping[str, Setting[Any]],
    env: Mapping[str, str],
    *,
    options: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The settings given as text, by attribute: an option's text (``options[attr]``) wins over
    the setting's variable; a secret may also come from the file ``<env>_FILE`` names. Settings
    given by neither, or as blank text, are left out (their defaults apply)."""
    options = options or {}
    out: dict[str, Any] = {}
    for attr, setting in settings.items():
        where, text = _text_source(setting, env, options.get(attr))
        if text is None or not text.strip():
            continue
        try:
            out[attr] = setting.kind.parse_text(text)
        except Invalid as exc:
            raise ConfigError(where, str(exc)) from None
    return out


def _text_source(
    setting: Setting[Any], env: Mapping[str, str], option: str | None
) -> tuple[str, str | None]:
    if option is not None:
        return setting.options[0] if setting.options else "option", option
    if setting.env is None:
        return "", None
    if not setting.secret:
        return setting.env, env.get(setting.env)
    try:
        return setting.env, secret_from_env(env, setting.env)
    except ValueError as exc:  # the _FILE cannot be read: the message names it
        raise ConfigError(str(exc)) from None


def env_names(settings: Iterable[Setting[Any]]) -> set[str]:
    """Every variable these settings read, ``_FILE`` companions of secrets included."""
    names: set[str] = set()
    for setting in settings:
        if setting.env:
            names.add(setting.env)
            if setting.secret:
                names.add(setting.env + FILE_SUFFIX)
    return names


def add_options(parser: argparse.ArgumentParser, settings: Mapping[str, Setting[Any]]) -> None:
    """An option per setting that declares ``options``; the value stays text (None if not
    given) for :func:`option_texts`, so it is parsed and checked like the variable."""
    for attr, setting in settings.items():
        if not setting.options:
            continue
        helptext = setting.doc + (f" ({setting.env})" if setting.env else "")
        metavar = setting.options[0].lstrip("-").upper().replace("-", "_")
        kwargs: dict[str, Any] = {"dest": attr, "default": None, "help": helptext}
        if setting.kind.option_action is None or setting.kind.option_action == "append":
            kwargs["metavar"] = metavar
        if setting.kind.option_action == "boolean":
            import argparse

            kwargs["action"] = argparse.BooleanOptionalAction
        elif setting.kind.option_action is not None:
            kwargs["action"] = setting.kind.option_action
        parser.add_argument(*setting.options, **kwargs)


def option_texts(args: argparse.Namespace, settings: Mapping[str, Setting[Any]]) -> dict[str, str]:
    """The options given on the command line, by attribute, as text."""
    out: dict[str, str] = {}
    for attr, setting in settings.items():
        value = getattr(args, attr, None) if setting.options else None
        if value is None:
            continue
        if isinstance(value, bool):
            out[attr] = "true" if value else "false"
        elif isinstance(value, list):
            out[attr] = ",".join(str(v) for v in value)
        else:
            out[attr] = str(value)
    return out
