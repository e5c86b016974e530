"""Strict YAML for every file shoal reads (controller config, schedules, values files).

PyYAML's ``safe_load`` keeps the last of two equal keys in a mapping (two ``cron:`` lines in one
entry, two ``minReplicas:``), so a typo silently wins. :func:`load_strict` refuses a duplicate key
with its line, and otherwise reads exactly what ``safe_load`` reads.

This is the one module of :mod:`contract` that imports PyYAML, and only when called: the
publisher kit, which stands on :mod:`contract`, never loads it.
"""

from __future__ import annotations

from typing import Any


class YamlError(ValueError):
    """The text is not valid YAML, or a mapping holds a key twice; the message says where."""


def load_strict(text: str | bytes) -> Any:
    """The document in ``text``; :class:`YamlError` for bad YAML or a duplicate key."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    def mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: let PyYAML report it as it does
                continue
            if first is not None:
                raise YamlError(
                    f"line {line}: key {key!r} appears twice in one mapping (first on line {first})"
                )
            seen[key] = line
        return loader.construct_mapping(node, deep=deep)

    StrictLoader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
        mapping,  # type: ignore[arg-type]
    )
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as exc:
        raise YamlError(f"not valid YAML: {_one_line(exc)}") from None


def _one_line(exc: Exception) -> str:
    """PyYAML's message on one line: where, then what (its own text spans several lines)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    words = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    what = ", ".join(str(w) for w in words if w) or " ".join(str(exc).split())
    if mark is None:
        return what
    return f"line {mark.line + 1}, column {mark.column + 1}: {what}"
