"""Reading the delivery tasks' record file: who started, who finished, how often."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Event:
    kind: str
    tag: str
    pid: int
    at: float


def events(path: Path) -> list[Event]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        kind, tag, pid, at = line.split()
        out.append(Event(kind, tag, int(pid), float(at)))
    return out


def counts(path: Path, kind: str) -> Counter[str]:
    return Counter(e.tag for e in events(path) if e.kind == kind)


def done_tags(path: Path) -> set[str]:
    return set(counts(path, "done"))
