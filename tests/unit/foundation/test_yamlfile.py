"""Strict YAML: a key given twice in one mapping is an error naming it, not a silent override."""

from __future__ import annotations

import pytest
import yaml

from contract.yamlfile import YamlError, load_strict


def test_a_duplicate_key_names_the_key_and_both_lines() -> None:
    text = "schedules:\n  - name: x\n    cron: '* * * * *'\n    cron: '0 * * * *'\n"
    with pytest.raises(YamlError, match=r"^line 4: key 'cron' appears twice .*line 3\)$"):
        load_strict(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: {c: [1, 2], d: null}\n",
        "- {a: 1}\n- {a: 1}\n",  # equal mappings in a list are not duplicate keys
        "x: &anchor {k: 1}\ny: *anchor\n",
        "",
        "1: one\n'1': also one\n",  # an int and a string key differ
    ],
)
def test_everything_else_reads_as_safe_load_reads_it(text: str) -> None:
    assert load_strict(text) == yaml.safe_load(text)


def test_bad_yaml_is_one_error() -> None:
    with pytest.raises(YamlError, match=r"^not valid YAML"):
        load_strict("a: [")
