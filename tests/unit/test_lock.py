"""The lock is what gets installed: requirements/*.txt agree with uv.lock and pyproject.toml,
and setup and the Dockerfile install from them with hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPORTS = ("dev.txt", "image.txt", "kit.txt", "build.txt")
HEAVY = ("kubernetes", "gevent", "prometheus-client", "sentry-sdk", "pyyaml", "hiredis", "astral")
"""Packages of the platform a team's web app must not get by installing the publisher kit."""
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^ ;\\]+)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            out[_norm(match[1])] = match[2]
    return out


def locked_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {_norm(p["name"]): p["version"] for p in lock["package"] if "version" in p}


@pytest.mark.parametrize("export", EXPORTS)
def test_every_pin_of_an_export_is_the_version_in_uv_lock(export: str) -> None:
    locked = locked_versions()
    pinned = pins(ROOT / "requirements" / export)
    assert pinned, f"{export} pins nothing"
    wrong = {n: (v, locked.get(n)) for n, v in pinned.items() if locked.get(n) != v}
    assert wrong == {}, f"{export} is stale: run `make lock` ({wrong})"


@pytest.mark.parametrize("export", EXPORTS)
def test_every_pin_carries_a_hash(export: str) -> None:
    text = (ROOT / "requirements" / export).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1])
    unhashed = [e.split()[0] for e in entries if "==" in e and "--hash=sha256:" not in e]
    assert unhashed == []


def _names(requirements: list[str]) -> list[str]:
    return [_norm(re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0]) for r in requirements]


def test_the_image_set_holds_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    image = pins(ROOT / "requirements" / "image.txt")
    runtime = project["dependencies"] + project["optional-dependencies"]["platform"]
    for name in _names(runtime):
        assert name in image, f"{name} is a dependency but not in requirements/image.txt"


def test_the_kit_is_celery_kombu_and_redis_without_the_platform() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert _names(project["dependencies"]) == ["celery", "kombu", "redis"]
    kit = pins(ROOT / "requirements" / "kit.txt")
    assert {"celery", "kombu", "redis"} <= set(kit)
    assert sorted(set(HEAVY) & set(kit)) == []
    platform = _names(project["optional-dependencies"]["platform"])
    assert set(HEAVY) <= set(platform)


def test_setup_and_the_dockerfile_install_only_hashed_locked_sets() -> None:
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "--require-hashes -r requirements/dev.txt" in setup
    assert "--no-build-isolation" in setup
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r requirements/image.txt" in dockerfile
    assert "--require-hashes -r requirements/build.txt" in dockerfile
    # Nothing resolved at build time: the project itself goes in without its dependencies.
    for line in dockerfile.splitlines():
        if "pip install" in line and "--require-hashes" not in line:
            assert "--no-deps" in line, line
