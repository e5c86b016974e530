"""``shoal worker``: parse options, patch for gevent first, then start a real Celery worker."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping


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
        from gevent import monkey

        monkey.patch_all()

    from workers.settings import SettingsError, from_env, unknown_variables

    try:
        settings = from_env(env)
    except SettingsError as exc:
        print(f"shoal worker: bad setting: {exc}", file=sys.stderr)
        return 2
    for name in unknown_variables(env):
        print(f"shoal worker: warning: unknown setting {name} ignored", file=sys.stderr)

    from workers.run import run_worker

    return run_worker(settings)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
