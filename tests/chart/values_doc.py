"""The values table of charts/shoal/README.md, generated from values.schema.json and values.yaml.

    python -m tests.chart.values_doc          # rewrite the table between the markers
    python -m tests.chart.values_doc --check  # exit 1 when the README's table is stale

Every key the schema allows gets a row (path, type, default, description), so the README
documents every value; tests/chart/test_docs.py runs the check.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

import yaml

from tests.chart.helm import CHART

README = CHART / "README.md"
BEGIN = "<!-- values-table:begin (python -m tests.chart.values_doc) -->"
END = "<!-- values-table:end -->"
# Kubernetes objects passed through as they are: no rows for their insides.
OPAQUE = {"podSecurityContext", "securityContext", "global", "resources"}
OPAQUE_SUFFIXES = tuple(OPAQUE)


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return loaded


def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def type_of(node: dict[str, Any]) -> str:
    kind = node.get("type", "object")
    text = " or ".join(kind) if isinstance(kind, list) else str(kind)
    if "enum" in node:
        text += " (" + " \\| ".join(str(e) for e in node["enum"]) + ")"
    bounds = [f"≥ {node['minimum']}" if "minimum" in node else ""]
    bounds += [f"> {node['exclusiveMinimum']}" if "exclusiveMinimum" in node else ""]
    bounds += [f"≤ {node['maximum']}" if "maximum" in node else ""]
    bounds = [b for b in bounds if b]
    return text + (" " + ", ".join(bounds) if bounds else "")


def lookup(tree: Any, path: list[str]) -> tuple[bool, Any]:
    for part in path:
        if not isinstance(tree, dict) or part not in tree:
            return False, None
        tree = tree[part]
    return True, tree


def show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return "`" + text.replace("|", "\\|") + "`"


def rows(node: dict[str, Any], path: list[str], defaults: dict[str, Any]) -> Iterator[str]:
    for key, child in node.get("properties", {}).items():
        here = [*path, key]
        name = ".".join(here)
        found, value = lookup(defaults, [p for p in here if not p.endswith("[]")])
        if not found:
            value = child.get("default")
            found = "default" in child
        default = show(value) if found and not name.startswith("queues[]") else ""
        if name.startswith("queues[]") and "default" in child:
            default = show(child["default"])
        if child.get("properties") and key not in OPAQUE:
            default = ""  # a group: its keys have their own rows
        description = str(child.get("description", "")).replace("|", "\\|")
        yield f"| `{name}` | {type_of(child)} | {default} | {description} |"
        if key in OPAQUE:
            continue
        if child.get("properties"):
            yield from rows(child, here, defaults)
        items = child.get("items", {})
        if child.get("type") == "array" and items.get("properties") and key == "queues":
            yield from rows(items, [f"{key}[]"], defaults)


def table() -> str:
    head = "| Key | Type | Default | Description |\n| --- | --- | --- | --- |\n"
    return head + "\n".join(rows(schema(), [], values())) + "\n"


def rendered_readme(text: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + table() + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chart.values_doc")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = README.read_text()
    wanted = rendered_readme(text)
    if args.check:
        if wanted != text:
            print("charts/shoal/README.md: values table is stale", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
