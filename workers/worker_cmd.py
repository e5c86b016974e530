"""``shoal worker``: parse options, patch for gevent first, then start a real Celery worker."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workers.layers import Layered
    from workers.settings import WorkerSettings


def parser() -> argparse.ArgumentParser:
    """The options mirror the settings that declare one (:mod:`workers.settings`)."""
    from contract.fields import add_options
    from workers.settings import SETTINGS

    p = argparse.ArgumentParser(
        prog="shoal worker",
        description="Run a Celery worker on named queues. Every option also reads SHOAL_<NAME>.",
    )
    add_options(p, SETTINGS)
    return p


def overlay(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, str]:
    """The environment with the command-line options laid over it (options win), so an option
    is read, checked and reported under its variable's name like the variable itself."""
    from contract.fields import option_texts
    from workers.settings import SETTINGS

    merged = dict(env)
    for attr, text in option_texts(args, SETTINGS).items():
        variable = SETTINGS[attr].env
        assert variable is not None, attr  # every worker option mirrors a variable
        merged[variable] = text
    return merged


def main(argv: list[str]) -> int:
    if argv and argv[0] == "health":
        from workers.health_cmd import main as health_main

        return int(health_main(argv[1:]))
    args = parser().parse_args(argv)
    env = overlay(args, os.environ)
    if env.get("SHOAL_POOL", "").strip().lower() == "gevent":
        # Before anything imports socket, ssl, threading or redis.
        from workers.green import patch

        for note in patch():
            print(f"shoal worker: warning: {note}", file=sys.stderr)

    from workers.settings import SettingsError, from_env, unknown_variables

    try:
        settings = from_env(env)
    except SettingsError as exc:
        print(f"shoal worker: bad setting: {exc}", file=sys.stderr)
        return 2
    for name in unknown_variables(env):
        print(f"shoal worker: warning: unknown setting {name} ignored", file=sys.stderr)

    if settings.app:
        return run_team_app(settings, env, prog="shoal worker")
    from workers.run import run_worker

    return run_worker(settings)


def run_team_app(settings: WorkerSettings, env: Mapping[str, str], *, prog: str) -> int:
    """Load the team's app, lay the platform over it, say every override, run it."""
    from workers.run import run_worker

    loaded = load_team_app(settings, env, prog=prog)
    if loaded is None:
        return 2
    app, layered, lines = loaded
    for line in lines:
        print(f"{prog}: WARNING: {line}", file=sys.stderr)
    return run_worker(layered.settings, app=app)


def load_team_app(
    settings: WorkerSettings, env: Mapping[str, str], *, prog: str, install_hooks: bool = True
) -> tuple[Any, Layered, list[str]] | None:
    """The team's app with the platform layer on it, and the lines about what was overridden;
    None after printing the one line that says why it cannot run."""
    from contract.teamapp import TeamAppError, load_app
    from workers.adopt import adopt, prepare
    from workers.layers import Refused
    from workers.redact import mask_text

    assert settings.app
    try:
        app = load_app(settings.app, env=env)
        layered = prepare(app, settings, env)
        task_lines = adopt(app, layered, install_hooks=install_hooks)
    except TeamAppError as exc:
        print(f"{prog}: {mask_text(str(exc))}", file=sys.stderr)
        return None
    except Refused as exc:
        print(f"{prog}: cannot run --app {settings.app}: {mask_text(str(exc))}", file=sys.stderr)
        return None
    lines = [mask_text(line, layered.secrets) for line in (*layered.lines(), *task_lines)]
    return app, layered, lines


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
