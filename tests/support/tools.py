"""Real tools the tests need: fail in CI when one is missing, skip on a laptop."""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def find_tool(name: str, extra_dirs: Sequence[str] = ()) -> str | None:
    """The path of ``name``: the one ``make setup`` put in ``.tools/bin``, else on PATH, else
    in ``extra_dirs`` (globs, the newest first: Debian keeps PostgreSQL's servers off PATH)."""
    local = ROOT / ".tools" / "bin" / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    for pattern in extra_dirs:
        for directory in sorted(glob.glob(pattern), reverse=True):
            candidate = Path(directory) / name
            if candidate.exists():
                return str(candidate)
    return None


def require_tool(name: str, extra_dirs: Sequence[str] = ()) -> str:
    """The path of ``name``; a missing tool fails the test in CI and skips it elsewhere."""
    path = find_tool(name, extra_dirs)
    if path:
        return path
    message = f"{name} is not installed (make setup installs it)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError("unreachable")
