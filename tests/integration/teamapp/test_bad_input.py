"""Each bad app stops the worker at start with one line naming the value and the error, exit
code 2: never a traceback, never a restart loop."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.teamapp.conftest import Team
from tests.support.procs import shoal_argv
from tests.support.tools import ROOT

TEAM_MODULES = {
    "settings_raises.py": (
        "import os\nfrom proj.settings import *  # noqa\n"
        "DATABASES = {'default': {'NAME': os.environ['ORDERS_DATABASE_URL']}}\n"
    ),
    "pickly.py": (
        "from celery import Celery\napp = Celery('pickly')\n"
        "app.conf.update(task_serializer='pickle', accept_content=['pickle', 'json'])\n"
    ),
    "longtasks.py": (
        "from celery import Celery\napp = Celery('longtasks')\n"
        "@app.task(time_limit=7200)\ndef export():\n    pass\n"
    ),
}

CASES = [
    (
        ["--app", "projx"],
        {},
        "shoal worker: --app 'projx': cannot import it: ModuleNotFoundError: "
        "No module named 'projx'",
    ),
    (
        ["--app", "proj.settings:SECRET_KEY"],
        {},
        "shoal worker: --app 'proj.settings:SECRET_KEY': is a str, not a Celery app",
    ),
    (
        ["--app", "proj"],
        {"DJANGO_SETTINGS_MODULE": "proj.settings_prod"},
        "shoal worker: Django cannot start (DJANGO_SETTINGS_MODULE='proj.settings_prod'): "
        "ModuleNotFoundError: No module named 'proj.settings_prod'",
    ),
    (
        ["--app", "proj"],
        {"DJANGO_SETTINGS_MODULE": "settings_raises"},
        "shoal worker: Django cannot start (DJANGO_SETTINGS_MODULE='settings_raises'): "
        "KeyError: 'ORDERS_DATABASE_URL'",
    ),
    (
        ["--app", "pickly"],
        {},
        "shoal worker: cannot run --app pickly: task_serializer 'pickle' (the app's): shoal "
        "workers run JSON only, and forcing JSON would change what your tasks publish and "
        "store; use 'json'",
    ),
    (
        ["--app", "longtasks"],
        {},
        "shoal worker: cannot run --app longtasks: task longtasks.export: time_limit 7200 is "
        "not below the visibility timeout 3600 s (SHOAL_VISIBILITY_TIMEOUT_S): Redis would "
        "hand it to a second worker while it runs",
    ),
    (
        ["--app", "proj", "--imports", "orders.nosuch"],
        {},
        "shoal worker: SHOAL_IMPORTS: a module failed to import: ModuleNotFoundError: "
        "No module named 'orders.nosuch'",
    ),
]


@pytest.mark.parametrize(("args", "env", "line"), CASES, ids=[c[2][14:60] for c in CASES])
@pytest.mark.parametrize("pool", ["prefork", "gevent"])
def test_a_bad_app_is_one_line_and_exit_code_2(
    django_team: Team, tmp_path: Path, pool: str, args: list[str], env: dict[str, str], line: str
) -> None:
    for name, text in TEAM_MODULES.items():
        (tmp_path / name).write_text(text)
    run_env = {**django_team.env, **env}
    run_env["PYTHONPATH"] += f":{tmp_path}"
    run_env.pop("SHOAL_IMPORTS")
    result = subprocess.run(
        shoal_argv("worker", "--pool", pool, *args),
        cwd=ROOT,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stderr) == (2, line + "\n")
