"""A team's package named like one of shoal's own would shadow it (or be shadowed by it).

Images built ``FROM`` shoal's put the team's code on ``PYTHONPATH=/app``, which Python searches
before the installed packages: a team package ``workers`` (or ``scheduler``, ``contract``,
``shoal``) there replaces shoal's, and the worker fails somewhere deep in an import. Found the
other way round (shoal's first), the team's own ``import workers.x`` fails instead. Either way
every ``shoal`` command checks first and stops with one line naming the path. Standard library
only: this runs before any other shoal module is imported (a shadowed one could not be).

A directory without ``__init__.py`` and without Python files in it (``scheduler/`` holding YAML)
shadows nothing and is not reported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.machinery import PathFinder
from pathlib import Path

OWN_PACKAGES = ("shoal", "workers", "scheduler", "contract")
"""shoal's top-level packages (pyproject.toml's ``[tool.setuptools.packages.find]``)."""


@dataclass(frozen=True)
class Clash:
    name: str
    path: Path
    """The other package (or module) of that name."""

    def message(self) -> str:
        own = ", ".join(OWN_PACKAGES)
        return (
            f"shoal: {self.path} is named like shoal's own package {self.name!r} and one would "
            f"shadow the other on the Python path; rename yours (shoal's packages: {own})"
        )


def _location(name: str, entry: str) -> Path | None:
    """Where ``entry`` (one ``sys.path`` item) holds an importable ``name``, if it does."""
    try:
        spec = PathFinder.find_spec(name, [entry])
    except (ImportError, OSError, ValueError):
        return None
    if spec is None:
        return None
    if spec.origin is not None and spec.origin != "namespace":
        origin = Path(spec.origin)
        return origin.parent if spec.submodule_search_locations else origin
    for portion in spec.submodule_search_locations or ():
        if any(Path(portion).glob("*.py")):  # a namespace package with modules in it
            return Path(portion)
    return None


def clashes(search_path: Sequence[str], *, home: Path) -> Iterator[Clash]:
    """Every package named like one of :data:`OWN_PACKAGES` on ``search_path`` that is not
    shoal's own (in ``home``, the directory holding shoal's packages)."""
    seen: set[Path] = set()
    for name in OWN_PACKAGES:
        ours = (home / name).resolve()
        for entry in search_path:
            found = _location(name, entry or os.curdir)
            if found is None:
                continue
            found = found.resolve()
            if found == ours or found in seen:
                continue
            seen.add(found)
            yield Clash(name, found)


def first_clash(*, with_cwd: bool) -> Clash | None:
    """The first clash on this process's path; ``with_cwd`` adds the working directory first,
    where ``celery -A`` (and so ``--app``) imports the team's app from."""
    home = Path(__file__).resolve().parent.parent
    search = [os.getcwd(), *sys.path] if with_cwd else list(sys.path)
    return next(clashes(search, home=home), None)


def loads_app(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    """The command line (or ``SHOAL_APP``) names a team's app."""
    named = any(a in ("-A", "--app") or a.startswith(("--app=", "-A")) for a in argv)
    return named or bool(env.get("SHOAL_APP", "").strip())
