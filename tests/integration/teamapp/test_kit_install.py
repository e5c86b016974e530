"""The publisher kit in a clean virtual environment, as a team's web app installs it: the
locked kit set plus shoal's wheel, nothing of the platform (no kubernetes, gevent,
prometheus-client, sentry-sdk, PyYAML); it imports none of them and publishes a task that a
shoal worker runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.support.procs import ProcessTracker, wait_for
from tests.support.redis_server import RedisServer
from tests.support.tools import ROOT
from tests.unit.test_lock import HEAVY, pins

SOURCES = ("pyproject.toml", "README.md", "shoal", "workers", "scheduler", "contract")
HEAVY_MODULES = ("kubernetes", "gevent", "prometheus_client", "sentry_sdk", "yaml", "hiredis")
PUBLISH = """
import json, sys
from celery import Celery
from workers.kit import configure

app = configure(Celery("web"), redis_url=sys.argv[1], routes={"shoal.*": "kit"})
app.send_task("shoal.noop", priority=9)
print(json.dumps(sorted(sys.modules)))
"""


def run(argv: list[str], **kwargs: object) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"
    return str(result.stdout)


@pytest.fixture(scope="module")
def kit_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with ``requirements/kit.txt`` (hashed) and shoal's wheel, no dependencies."""
    work = tmp_path_factory.mktemp("kit")
    source = work / "src"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, source / name)
    wheels = work / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)])
    venv = work / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    venv_pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    run([*venv_pip, "install", "--require-hashes", "-r", str(ROOT / "requirements" / "kit.txt")])
    (wheel,) = wheels.glob("shoal-*.whl")
    run([*venv_pip, "install", "--no-deps", str(wheel)])
    run([*venv_pip, "check"])  # the wheel's own dependencies are exactly the kit set's
    return venv


def test_the_kit_installs_only_celery_kombu_redis_and_their_dependencies(kit_venv: Path) -> None:
    listed = json.loads(
        run([str(kit_venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"])
    )
    installed = {p["name"].lower().replace("_", "-") for p in listed}
    kit = set(pins(ROOT / "requirements" / "kit.txt"))
    assert installed - kit == {"shoal", "pip"} | ({"setuptools"} & installed)
    assert sorted(set(HEAVY) & installed) == []


def test_the_shoal_command_says_it_needs_the_platform(kit_venv: Path) -> None:
    result = subprocess.run(
        [str(kit_venv / "bin" / "shoal"), "worker", "--queue", "a"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (
        2,
        "shoal: 'worker' needs the platform, not installed here (no gevent, kubernetes, "
        "prometheus_client, sentry_sdk, yaml): pip install 'shoal[platform]' (plain `pip "
        "install shoal` is the publisher kit)\n",
    )


def test_the_kit_imports_nothing_heavy_and_its_task_runs_on_a_worker(
    kit_venv: Path,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    procs: ProcessTracker,
    worker_env: dict[str, str],
) -> None:
    out = run(
        [str(kit_venv / "bin" / "python"), "-c", PUBLISH, redis_server.url],
        cwd=kit_venv,
        env={"PATH": "/usr/bin:/bin"},
    )
    loaded = set(json.loads(out))
    assert sorted(m for m in loaded if m.split(".")[0] in HEAVY_MODULES) == []
    assert sorted(m for m in loaded if m.startswith(("workers.", "scheduler"))) == ["workers.kit"]
    assert redis_client.llen("kit\x06\x169") == 1  # routed by the kit, priority 9
    procs.worker("kit", env=worker_env)
    wait_for(
        lambda: redis_client.hget("shoal:stats:kit", "completed") == b"1",
        timeout_s=90,
        message="the kit's task to complete on a shoal worker",
    )
