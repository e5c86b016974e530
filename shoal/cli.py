"""The ``shoal`` command: one entry point, subcommands imported lazily.

Nothing here imports sockets, SSL or Celery, so ``shoal worker --pool gevent`` can
monkey-patch before anything else runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

from shoal.shadowing import first_clash, loads_app

COMMANDS: dict[str, tuple[str, str]] = {
    "worker": ("workers.worker_cmd:main", "run a worker on named queues (prefork or gevent)"),
    "config": ("workers.config_cmd:main", "print the effective worker settings, secrets masked"),
    "dlq": ("workers.dlq_cmd:main", "list, show, requeue or purge a queue's dead letters"),
    "autoscaler": ("scheduler.autoscaler.cli:main", "run the autoscaling controller"),
    "status": ("scheduler.autoscaler.status_cmd:main", "one line per queue: backlog, replicas"),
    "beat": ("scheduler.beat.cli:main", "run a beat replica, or --check a schedules file"),
    "simulate": ("scheduler.simulate.cli:main", "replay a trace against a values file"),
    "demo": ("scheduler.demo.cli:main", "run the whole platform locally with a live view"),
    "load": (
        "scheduler.demo.load_cmd:main",
        "publish tasks at a rate or from a trace (load generator)",
    ),
}


PLATFORM_MODULES = ("gevent", "kubernetes", "prometheus_client", "sentry_sdk", "yaml")
"""What ``pip install "shoal[platform]"`` adds to the publisher kit (``pip install shoal``);
every command needs it (looked up, not imported: gevent must patch before it is imported)."""


def missing_platform() -> list[str]:
    return [name for name in PLATFORM_MODULES if importlib.util.find_spec(name) is None]


def usage() -> str:
    lines = ["usage: shoal COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<11} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"shoal: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    clash = first_clash(with_cwd=loads_app(rest, os.environ))
    if clash is not None:
        print(clash.message(), file=sys.stderr)
        return 2
    missing = missing_platform()
    if missing:
        print(
            f"shoal: {name!r} needs the platform, not installed here (no {', '.join(missing)}): "
            "pip install 'shoal[platform]' (plain `pip install shoal` is the publisher kit)",
            file=sys.stderr,
        )
        return 2
    module_name, func_name = COMMANDS[name][0].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            print(f"shoal: the {name!r} command is not available in this build", file=sys.stderr)
            return 2
        raise
    result: int = getattr(module, func_name)(rest)
    return result


if __name__ == "__main__":
    sys.exit(main())
