"""The field mechanism: one parser per kind, the same rule and message from text and from YAML,
and errors that read ``<where>: <what is wrong>`` wherever a setting comes from."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.fields import (
    REQUIRED,
    ConfigError,
    Invalid,
    Nested,
    Setting,
    add_options,
    declared,
    env_names,
    option_texts,
    read_env,
    read_mapping,
)
from contract.kinds import Boolean, Choice, Integer, ListOf, Number, Text, port
from contract.pools import Pool
from contract.queues import QueueName


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        (Integer(1, 10), " 7 ", 7),
        (Integer(1, 10), "7.0", 7),
        (Integer(0), "5_000", 5000),
        (Number(0, exclusive_minimum=True, unit="s"), "0.25", 0.25),
        (Boolean(), "Yes", True),
        (Boolean(), "off", False),
        (Choice(tuple(Pool), fold=str.lower), " GEVENT ", Pool.GEVENT),
        (Text(), " kept as given ", " kept as given "),
        (ListOf(QueueName(), what="queue names"), "a, b,,c", ("a", "b", "c")),
    ],
)
def test_text_reads_as_documented(kind: Any, text: str, expected: object) -> None:
    assert kind.parse_text(text) == expected


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (Integer(0, 9), 5, 5),
        (Integer(0, 9), 5.0, 5),
        (Number(-90, 90), -90, -90.0),
        (Boolean(), False, False),
        (Choice(tuple(Pool)), "prefork", Pool.PREFORK),
        (ListOf(Integer(0), what="counts"), [1, 2.0], (1, 2)),
    ],
)
def test_yaml_values_read_as_documented(kind: Any, value: object, expected: object) -> None:
    read = kind.parse_value(value, "x")
    assert read == expected and type(read) is type(expected)


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (Integer(0, 9), 5.5, "expected an integer from 0 to 9, got 5.5"),
        (Integer(0, 9), True, "expected an integer from 0 to 9, got True"),
        (Integer(0, 9), "5", "expected an integer from 0 to 9, got '5'"),
        (Integer(0, 9), 10, "expected an integer from 0 to 9, got 10"),
        (Integer(1), 0, "expected an integer >= 1, got 0"),
        (Integer(0, 60, unit="s"), -1, "expected a whole number of seconds from 0 to 60, got -1"),
        (Number(0, exclusive_minimum=True), 0, "expected a number > 0, got 0"),
        (Number(0, 300, exclusive_minimum=True), 301, "expected a number > 0 and <= 300, got 301"),
        (Number(0), math.nan, "expected a number >= 0, got nan"),
        (Number(0, whole=True, unit="s"), 0.5, "expected a whole number of seconds >= 0, got 0.5"),
        (Boolean(), "yes", "expected true or false, got 'yes'"),
        (Choice(tuple(Pool), fold=str.lower), "GEVENT",
         "expected one of prefork, gevent, got 'GEVENT'"),
        (Text(min_length=1), "", "expected a non-empty string, got ''"),
        (Text(), 3, "expected a string, got 3"),
        (ListOf(Integer(0), what="counts"), {"a": 1}, "expected a list of counts, got a mapping"),
        (port(), 70000, "expected a port from 0 to 65535, got 70000"),
    ],
)  # fmt: skip
def test_a_wrong_yaml_value_says_what_the_kind_takes(
    kind: Any, value: object, message: str
) -> None:
    with pytest.raises(Invalid) as caught:
        kind.parse_value(value, "x")
    assert str(caught.value) == message


def outcome(call: Callable[[], object]) -> tuple[str, object]:
    try:
        return ("ok", call())
    except Invalid as exc:
        return ("error", str(exc))


@given(st.integers(-20, 20), st.integers(-20, 20), st.integers(-30, 30))
def test_an_integer_reads_the_same_from_text_and_from_yaml(low: int, high: int, n: int) -> None:
    kind = Integer(min(low, high), max(low, high))
    from_text = outcome(lambda: kind.parse_text(str(n)))
    from_yaml = outcome(lambda: kind.parse_value(n, "x"))
    # The same value or the same problem; only the value as written differs (text is quoted).
    assert (from_text[0], str(from_text[1]).replace(repr(str(n)), repr(n))) == (
        from_yaml[0],
        str(from_yaml[1]),
    )
    assert (from_yaml[0] == "ok") == (min(low, high) <= n <= max(low, high))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_an_integer_takes_a_float_only_when_it_is_whole(value: float) -> None:
    kind = Integer()
    if math.isfinite(value) and value.is_integer():
        assert kind.parse_value(value, "x") == int(value)
        assert kind.parse_text(repr(value)) == int(value)
    else:
        with pytest.raises(Invalid):
            kind.parse_value(value, "x")
        with pytest.raises(Invalid):
            kind.parse_text(repr(value))


@dataclass(frozen=True)
class Window:
    seconds: int = Setting(Integer(0, 60, unit="s"), 10, "Length.", key="seconds").field()
    mode: str = Setting(Choice(("Max", "Min")), "Max", "Which.", key="mode").field()


@dataclass(frozen=True)
class Sample:
    name: str = Setting(QueueName(), REQUIRED, "The queue.", key="name").field()
    size: int = Setting(
        Integer(1, 10),
        2,
        "Size.",
        key="block.size",
        env="SHOAL_SIZE",
        options=("--size",),
    ).field()
    rate: float | None = Setting(Number(0), None, "Rate.", key="block.rate").field()
    window: Window = Setting(Nested(Window), Window(seconds=30), "Window.", key="window").field()
    password: str | None = Setting(Text(), None, "Secret.", env="SHOAL_PW", secret=True).field()


def read(data: object, **kwargs: Any) -> Sample:
    return Sample(**read_mapping(declared(Sample), data, "queues[1] (emails)", **kwargs))


def test_the_dataclass_default_is_the_declared_default() -> None:
    sample = Sample(name="q")
    assert (sample.size, sample.rate, sample.window) == (2, None, Window(30, "Max"))
    assert [s.default for s in declared(Sample).values()][1:3] == [2, None]
    assert "hunter2" not in repr(Sample(name="q", password="hunter2"))


def test_a_mapping_reads_dotted_keys_from_their_block_and_nulls_as_absent() -> None:
    sample = read({"name": "emails", "block": {"size": 5, "rate": None}, "window": {"mode": "Min"}})
    assert (sample.size, sample.rate) == (5, None)
    assert sample.window == Window(30, "Min"), "a block keeps its default instance's other keys"
    assert read({"name": "q", "block": None, "window": None}) == Sample(name="q")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "q", "block": {"sise": 5}},
         "queues[1] (emails).block.sise: unknown field (did you mean size?)"),
        ({"name": "q", "colour": 1},
         "queues[1] (emails).colour: unknown field (check the spelling)"),
        ({"name": "q", "block": {"size": 11}},
         "queues[1] (emails).block.size: expected an integer from 1 to 10, got 11"),
        ({"name": "q", "window": {"seconds": 61}},
         "queues[1] (emails).window.seconds: expected a whole number of seconds from 0 to 60, "
         "got 61"),
        ({"block": {}}, "queues[1] (emails).name: is required"),
        ({"name": "q", "block": [1]}, "queues[1] (emails).block: expected a mapping, got a list"),
        (["name"], "queues[1] (emails): expected a mapping, got a list"),
    ],
)  # fmt: skip
def test_mapping_errors_name_the_path(data: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read(data)
    assert str(caught.value) == message
    assert (caught.value.where, caught.value.problem) == tuple(message.split(": ", 1))


def test_extra_keys_are_left_to_the_caller_and_blocks_stay_strict() -> None:
    assert read({"name": "q", "resources": {}}, strict=False).name == "q"
    assert read({"name": "q", "other": 1}, extra=("other",)).name == "q"
    with pytest.raises(ConfigError, match=r"block\.sise: unknown field"):
        read({"name": "q", "resources": {}, "block": {"sise": 1}}, strict=False)


def test_the_environment_and_the_options_name_their_source(tmp_path: Path) -> None:
    settings = declared(Sample)
    assert read_env(settings, {"SHOAL_SIZE": "4"}) == {"size": 4}
    assert read_env(settings, {"SHOAL_SIZE": "4"}, options={"size": "6"}) == {"size": 6}
    assert read_env(settings, {"SHOAL_SIZE": "  "}) == {}, "blank is unset"
    with pytest.raises(
        ConfigError, match=r"^SHOAL_SIZE: expected an integer from 1 to 10, got 'x'$"
    ):
        read_env(settings, {"SHOAL_SIZE": "x"})
    with pytest.raises(ConfigError, match=r"^--size: expected an integer from 1 to 10, got '0'$"):
        read_env(settings, {}, options={"size": "0"})
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    assert read_env(settings, {"SHOAL_PW_FILE": str(secret)}) == {"password": "from-file"}
    with pytest.raises(ConfigError, match=r"^SHOAL_PW_FILE: cannot read"):
        read_env(settings, {"SHOAL_PW_FILE": str(tmp_path / "missing")})
    assert env_names(settings.values()) == {"SHOAL_SIZE", "SHOAL_PW", "SHOAL_PW_FILE"}


def test_options_are_built_from_the_declarations_and_read_back_as_text() -> None:
    @dataclass(frozen=True)
    class Cli:
        queues: tuple[str, ...] = Setting(
            ListOf(QueueName(), what="queue names"), (), "Queues.", options=("--queue", "-Q")
        ).field()
        lease: bool = Setting(Boolean(), True, "Lease.", options=("--lease",)).field()
        size: int = Setting(Integer(1), 1, "Size.", env="SHOAL_SIZE", options=("--size",)).field()

    parser = argparse.ArgumentParser()
    add_options(parser, declared(Cli))
    args = parser.parse_args(["-Q", "a", "--queue", "b,c", "--no-lease"])
    assert option_texts(args, declared(Cli)) == {"queues": "a,b,c", "lease": "false"}
    values = read_env(declared(Cli), {}, options=option_texts(args, declared(Cli)))
    assert values == {"queues": ("a", "b", "c"), "lease": False}
    assert "(SHOAL_SIZE)" in parser.format_help()


def test_a_setting_states_its_schema() -> None:
    size, rate, window = (declared(Sample)[a] for a in ("size", "rate", "window"))
    assert size.schema() == {"type": "integer", "minimum": 1, "maximum": 10, "default": 2}
    assert rate.schema() == {"type": ["number", "null"], "minimum": 0, "default": None}
    assert window.schema()["properties"]["seconds"]["default"] == 30
    assert declared(Sample)["name"].schema() == {"type": "string", "pattern": QueueName().pattern}
