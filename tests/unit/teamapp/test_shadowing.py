"""A team package named like one of shoal's is found wherever it sits on the path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shoal.shadowing import OWN_PACKAGES, clashes, loads_app
from tests.support.tools import ROOT


def package(root: Path, name: str, *, init: bool = True, module: str = "") -> Path:
    path = root / name
    path.mkdir(parents=True)
    if init:
        (path / "__init__.py").write_text("")
    if module:
        (path / module).write_text("")
    return path


@pytest.mark.parametrize("name", OWN_PACKAGES)
def test_a_team_package_of_each_name_is_found_before_or_after_ours(
    tmp_path: Path, name: str
) -> None:
    theirs = package(tmp_path / "app", name)
    for search in ([str(tmp_path / "app"), str(ROOT)], [str(ROOT), str(tmp_path / "app")]):
        assert [(c.name, c.path) for c in clashes(search, home=ROOT)] == [(name, theirs)]


def test_a_module_file_and_a_namespace_package_with_modules_count(tmp_path: Path) -> None:
    (tmp_path / "contract.py").write_text("")
    package(tmp_path, "scheduler", init=False, module="jobs.py")
    found = {c.name: c.path for c in clashes([str(tmp_path)], home=ROOT)}
    assert found == {"contract": tmp_path / "contract.py", "scheduler": tmp_path / "scheduler"}


def test_a_directory_without_python_and_shoal_itself_are_no_clash(tmp_path: Path) -> None:
    data = tmp_path / "workers"
    data.mkdir()
    (data / "pool.yaml").write_text("x: 1\n")
    assert list(clashes([str(tmp_path), str(ROOT), str(ROOT / ".")], home=ROOT)) == []


def test_loads_app_reads_the_option_and_the_variable() -> None:
    assert loads_app(["--app", "proj"], {}) and loads_app(["-Aproj"], {})
    assert loads_app(["--app=proj"], {}) and loads_app([], {"SHOAL_APP": "proj"})
    assert not loads_app(["--queue", "a"], {"SHOAL_APP": " "})


@pytest.mark.parametrize("theirs_first", [True, False])
def test_every_shoal_command_stops_with_one_line(tmp_path: Path, theirs_first: bool) -> None:
    """As in an image FROM shoal's (the team's /app first on the path) and the other way."""
    package(tmp_path, "workers", module="tasks.py")
    path = f"{tmp_path}:{ROOT}" if theirs_first else f"{ROOT}:{tmp_path}"
    env = {"PYTHONPATH": path, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "shoal", "worker", "--queue", "a"],
        cwd=tmp_path if theirs_first else ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"shoal: {tmp_path / 'workers'} is named like shoal's own package 'workers' and one "
        "would shadow the other on the Python path; rename yours (shoal's packages: shoal, "
        "workers, scheduler, contract)\n"
    )
