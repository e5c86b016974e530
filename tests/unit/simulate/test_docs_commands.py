"""Every ``shoal`` command in docs/simulate.md runs and succeeds (so the docs cannot rot)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.tools import ROOT

DOC = ROOT / "docs" / "simulate.md"


def doc_commands() -> list[str]:
    text = DOC.read_text()
    blocks = re.findall(r"```console\n(.*?)```", text, flags=re.S)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def test_the_doc_has_commands() -> None:
    assert len(doc_commands()) >= 3


@pytest.mark.parametrize("command", doc_commands())
def test_doc_command_runs(command: str, tmp_path: Path) -> None:
    argv = shlex.split(command)
    assert argv[0] == "shoal"
    (tmp_path / "scheduler").symlink_to(ROOT / "scheduler")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", *argv[1:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    if "--plot" in argv:
        assert (tmp_path / argv[argv.index("--plot") + 1]).stat().st_size > 10_000
