"""The one place that knows how commands are written in shoal's docs.

The docs are ``README.md``, ``docs/*.md`` and ``charts/shoal/README.md``. Code in them is in
fenced blocks, and every fence names its language (a bare fence fails a test, so a command can
never hide in an untagged block):

- ``console``: a session; each line starting with ``$ `` is a command, and the lines after it,
  up to the next ``$ ``, are the output the doc shows for it.
- ``sh``, ``bash``, ``shell``: every line is a command; blank lines and whole-line ``#``
  comments are not; a trailing ``\\`` continues a command on the next line.
- ``python``: a snippet a reader would paste and run.
- anything else (``yaml``, ``text``, ``csv``, ``dockerfile``): not a command.

A trailing comment (`` # ...`` outside quotes) is not part of a command: a command is known by
its text without it, the same text in every doc it appears in.

Inline code in prose that starts with a program of ``INLINE_PROGRAMS`` is a command too
(``shoal status --json``, or just ``shoal worker`` named in a sentence). It is a *synopsis*
when it holds a placeholder: an upper-case word (``FILE``, ``N``, ``V.yaml``), a ``|``
between alternatives (``\\|`` in a table) or an optional ``[...]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.tools import ROOT

SHELL = frozenset({"console", "sh", "bash", "shell"})
PYTHON = "python"
INLINE_PROGRAMS = frozenset(
    {"shoal", "helm", "make", "python", "kubectl", "promtool", "pytest", "docker", "go", "time"}
)
_FENCE = re.compile(r"^```(\S*)")
_SPAN = re.compile(r"`([^`]+)`")
_PLACEHOLDER = re.compile(r"(?<![\w.-])[A-Z][A-Z0-9_]*(?![\w-])")


def doc_paths() -> tuple[Path, ...]:
    """Every doc, README.md first."""
    return (
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "charts" / "shoal" / "README.md",
    )


@dataclass(frozen=True)
class Block:
    doc: str
    """The doc's path relative to the repository root."""
    line: int
    """The line of the opening fence (1-based)."""
    lang: str
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "".join(f"{line}\n" for line in self.lines)


@dataclass(frozen=True)
class Command:
    doc: str
    line: int
    text: str
    """The command as written, without a trailing comment."""
    output: tuple[str, ...] = ()
    """What a ``console`` block shows the command printing."""
    inline: bool = False
    """Inline code in prose, not a fenced block."""

    @property
    def synopsis(self) -> bool:
        return is_synopsis(self.text)


def is_synopsis(text: str) -> bool:
    return bool(_PLACEHOLDER.search(text)) or "|" in text or "[" in text


@dataclass(frozen=True)
class Snippet:
    doc: str
    line: int
    code: str

    @property
    def key(self) -> str:
        """``doc: first line``, how the tests name a snippet."""
        return f"{self.doc}: {self.code.splitlines()[0]}"


def blocks(path: Path) -> list[Block]:
    found: list[Block] = []
    lang: str | None = None
    start = 0
    body: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = _FENCE.match(line)
        if match and lang is None:
            lang, start, body = match.group(1), number, []
        elif line.startswith("```") and lang is not None:
            doc = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            found.append(Block(str(doc), start, lang, tuple(body)))
            lang = None
        elif lang is not None:
            body.append(line)
    if lang is not None:
        raise ValueError(f"{path}:{start}: fence never closed")
    return found


def all_blocks() -> list[Block]:
    return [block for path in doc_paths() for block in blocks(path)]


def strip_comment(line: str) -> str:
    """``line`` without a `` # comment`` that stands outside quotes."""
    quote: str | None = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line.rstrip()


def _console(block: Block) -> Iterator[Command]:
    current: tuple[int, str] | None = None
    output: list[str] = []
    for offset, line in enumerate(block.lines, start=1):
        if line.startswith("$ "):
            if current:
                yield Command(block.doc, current[0], current[1], tuple(output))
            current, output = (block.line + offset, strip_comment(line[2:])), []
        elif current:
            output.append(line)
    if current:
        yield Command(block.doc, current[0], current[1], tuple(output))


def _script(block: Block) -> Iterator[Command]:
    pending = ""
    first = 0
    for offset, raw in enumerate(block.lines, start=1):
        line = strip_comment(raw)
        if not pending and not line:
            continue
        first = first if pending else block.line + offset
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        yield Command(block.doc, first, pending + line.strip())
        pending = ""


def commands(found: list[Block] | None = None) -> list[Command]:
    """Every command of every shell block, in doc order (a command may repeat)."""
    result: list[Command] = []
    for block in all_blocks() if found is None else found:
        if block.lang == "console":
            result += _console(block)
        elif block.lang in SHELL:
            result += _script(block)
    return result


def snippets(found: list[Block] | None = None) -> list[Snippet]:
    """Every ``python`` block."""
    return [
        Snippet(b.doc, b.line, b.text)
        for b in (all_blocks() if found is None else found)
        if b.lang == PYTHON
    ]


def yaml_block(doc: str, containing: str) -> str:
    """The text of the one ``yaml`` block of ``doc`` that contains ``containing``."""
    found = [b.text for b in blocks(ROOT / doc) if b.lang == "yaml" and containing in b.text]
    if len(found) != 1:
        raise LookupError(f"{doc}: {len(found)} yaml blocks contain {containing!r}, expected 1")
    return found[0]


def inline_commands(path: Path) -> list[Command]:
    """Inline code spans in the prose of ``path`` that start with a known program."""
    doc = str(path.relative_to(ROOT))
    found: list[Command] = []
    fenced = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        for span in [] if fenced else _SPAN.findall(line):
            text = " ".join(span.replace("\\|", "|").split())
            if text.split()[0] in INLINE_PROGRAMS and len(text.split()) > 1:
                found.append(Command(doc, number, text, inline=True))
    return found


def all_inline_commands() -> list[Command]:
    return [command for path in doc_paths() for command in inline_commands(path)]
