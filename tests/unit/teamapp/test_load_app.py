"""``load_app`` resolves APP as ``celery -A`` does; each bad value is one line naming it.
(Django projects are loaded in real worker processes: tests/integration/teamapp.)"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from contract.teamapp import TeamAppError, load_app

MODULES = {
    "team_ok/__init__.py": "",
    "team_ok/celery.py": """
        from celery import Celery
        app = Celery("team_ok", set_as_current=False, include=["team_ok.jobs"])
    """,
    "team_ok/jobs.py": """
        from team_ok.celery import app
        @app.task(name="team_ok.ping", shared=False)
        def ping():
            return "pong"
    """,
    "team_attr.py": """
        from celery import Celery
        worker_app = Celery("team_attr", set_as_current=False)
        def helper():
            return 1
    """,
    "team_empty.py": "VALUE = 1\n",
    "team_raises.py": "raise RuntimeError('settings missing:\\n  DATABASE_URL')\n",
    "team_badtasks.py": """
        from celery import Celery
        app = Celery("team_badtasks", set_as_current=False, include=["team_nosuch.tasks"])
    """,
}


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name, text in MODULES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    before = set(sys.modules)
    try:
        yield tmp_path
    finally:
        for name in set(sys.modules) - before:
            if name.startswith("team_"):
                del sys.modules[name]


@pytest.mark.parametrize("spec", ["team_ok", "team_ok.celery", "team_ok.celery:app"])
def test_every_form_celery_accepts_names_the_app_and_its_tasks_are_imported(
    modules: Path, spec: str
) -> None:
    app = load_app(spec, env={})
    assert isinstance(app, Celery) and app.main == "team_ok"
    assert "team_ok.jobs" in sys.modules
    app.close()


def test_any_celery_instance_in_the_module_is_found(modules: Path) -> None:
    app = load_app("team_attr", env={})
    assert app.main == "team_attr"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "team_nosuch",
            "--app 'team_nosuch': cannot import it: ModuleNotFoundError: "
            "No module named 'team_nosuch'",
        ),
        ("team_attr:missing", "--app 'team_attr:missing': module 'team_attr' has no attribute"),
        ("team_attr:helper", "--app 'team_attr:helper': is a function, not a Celery app"),
        ("team_attr:", "--app 'team_attr:': is a module, not a Celery app"),
        (
            "team_empty",
            "--app 'team_empty': no Celery app in module 'team_empty' (looked for team_empty.app,",
        ),
        (
            "team_raises",
            "--app 'team_raises': importing it failed: "
            "RuntimeError: settings missing: DATABASE_URL",
        ),
        (
            "team_badtasks",
            "--app 'team_badtasks': loading its task modules failed: ModuleNotFoundError: "
            "No module named 'team_nosuch'",
        ),
        (" ", "--app: empty"),
    ],
)
def test_a_bad_app_is_one_line_naming_it(modules: Path, spec: str, message: str) -> None:
    with pytest.raises(TeamAppError) as caught:
        load_app(spec, env={})
    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text
