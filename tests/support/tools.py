"""Real tools the tests need: fail in CI when one is missing, skip on a laptop."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def find_tool(name: str) -> str | None:
    """The path of ``name``: the one ``make setup`` put in ``.tools/bin``, else on PATH."""
    local = ROOT / ".tools" / "bin" / name
    return str(local) if local.exists() else shutil.which(name)


def require_tool(name: str) -> str:
    """The path of ``name``; a missing tool fails the test in CI and skips it elsewhere."""
    path = find_tool(name)
    if path:
        return path
    message = f"{name} is not installed (make setup installs it)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError("unreachable")
