"""Where a doc command runs: a temporary directory that looks like the repository to it.

The directory holds links to the repository folders the docs name (``scheduler``,
``charts``, ``k8s``) and the files the docs tell the reader to write (``schedules.yaml`` is
the first example of docs/beat.md). A command runs there with ``PYTHONPATH`` set to the
repository and this test session's Redis in ``SHOAL_REDIS_URL``.

What the docs leave to the reader is filled in by one mapping each:

- ``PROGRAMS``: the first word of a command -> what runs (``shoal`` is
  ``python -m shoal``; helm, promtool and kubectl are the real tools; where kubectl is
  missing, ``kubectl kustomize`` is the ``kustomize build`` scripts/go-tools.sh builds).
- ``PLACEHOLDERS``: text in a doc that names the reader's own Redis -> this session's Redis.
- ``STAND_INS``: files the reader brings (``day.csv``) -> the repository's examples.
- ``EXTRA_ARGS``: options a long-running command gets here so it does not take a fixed port.

``> FILE`` at the end of a command writes its output to ``FILE`` as a shell would; any other
shell syntax (pipes, ``&&``) cannot run here.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.docs.collect import yaml_block
from tests.support.procs import Proc, ProcessTracker
from tests.support.tools import ROOT, require_tool

LINKED = ("scheduler", "charts", "k8s")
DOC_FILES = {
    "schedules.yaml": ("docs/beat.md", "name: daily-email"),
    "values-prod.yaml": ("docs/install.md", "existingSecret: shoal-redis "),
    "my-values.yaml": ("charts/shoal/README.md", "# my-values.yaml"),
}
"""File name -> (doc, text in its yaml block): the files the docs' commands read."""
STAND_INS = {
    "current.yaml": "scheduler/simulate/examples/values.yaml",
    "day.csv": "scheduler/simulate/examples/spiky-cpu.csv",
}

PROGRAMS: dict[str, Callable[[], list[str]]] = {
    "shoal": lambda: [sys.executable, "-m", "shoal"],
    "python": lambda: [sys.executable],
    "helm": lambda: [require_tool("helm")],
    "promtool": lambda: [require_tool("promtool")],
    "kubectl": lambda: [shutil.which("kubectl") or require_tool("kubectl")],
}
PLACEHOLDERS = ("redis://redis.shoal:6379/0",)
"""Redis URLs the docs show; each becomes this session's Redis."""
EXTRA_ARGS = {
    "shoal beat --schedules": ("--metrics-port", "0"),
    "shoal beat --app": ("--metrics-port", "0"),
}
"""Command prefix -> options added here (the documented default port may be taken)."""
SHELL_SYNTAX = ("|", "||", "&&", ";", ">>", "<", "&")


def redirect(command: str) -> tuple[str, str | None]:
    """``command`` without a trailing ``> FILE``, and ``FILE``."""
    head, sep, target = command.rpartition(">")
    if not sep or not target.strip() or " " in target.strip() or head.endswith(">"):
        return command, None
    return head.rstrip(), target.strip()


@dataclass
class Sandbox:
    path: Path
    redis_url: str
    client: redis.Redis
    procs: ProcessTracker
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(
        cls, path: Path, *, redis_url: str, client: redis.Redis, procs: ProcessTracker
    ) -> Sandbox:
        for name in LINKED:
            (path / name).symlink_to(ROOT / name)
        for name, (doc, containing) in DOC_FILES.items():
            (path / name).write_text(yaml_block(doc, containing))
        for name, source in STAND_INS.items():
            (path / name).write_text((ROOT / source).read_text())
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
        env.update(
            PYTHONPATH=str(ROOT),
            SHOAL_REDIS_URL=redis_url,
            SHOAL_METRICS_PORT="0",
            SHOAL_HEALTH_PORT="0",
            SHOAL_HEALTH_FILE=str(path / "health"),
            PROMETHEUS_MULTIPROC_DIR=str(path / "prom"),
        )
        (path / "prom").mkdir()
        return cls(path, redis_url, client, procs, env)

    def fill(self, text: str) -> str:
        for placeholder in PLACEHOLDERS:
            text = text.replace(placeholder, self.redis_url)
        return text

    def argv(self, command: str) -> tuple[dict[str, str], list[str]]:
        """The environment and argv that run ``command`` (``VAR=value`` words lead)."""
        words = shlex.split(self.fill(redirect(command)[0]))
        bad = [w for w in words if w in SHELL_SYNTAX]
        assert not bad, f"{command!r}: shell syntax {bad} (list it in NOT_RUN_HERE)"
        env = dict(self.env)
        while words and "=" in words[0] and words[0].split("=")[0].isidentifier():
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        if not words:
            return env, []
        program = PROGRAMS.get(words[0])
        assert program, f"{command!r}: no program {words[0]!r} in PROGRAMS"
        extra = [a for p, args in EXTRA_ARGS.items() if command.startswith(p) for a in args]
        if words[:2] == ["kubectl", "kustomize"] and not shutil.which("kubectl"):
            return env, [require_tool("kustomize"), "build", *words[2:]]
        return env, [*program(), *words[1:], *extra]

    def run(self, command: str, *, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        env, argv = self.argv(command)
        done = subprocess.run(
            argv,
            cwd=self.path,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        target = redirect(command)[1]
        if target:
            (self.path / target).write_text(done.stdout)
        return done

    def ok(self, command: str, *, timeout_s: float = 120) -> str:
        """Run ``command``; assert exit code 0 and hand back its stdout."""
        done = self.run(command, timeout_s=timeout_s)
        assert done.returncode == 0, f"{command!r} exited {done.returncode}:\n{done.stderr}"
        return done.stdout

    def start(self, command: str, *, name: str) -> Proc:
        """Start a long-running command; the ``procs`` fixture stops it by pid."""
        env, argv = self.argv(command)
        # The tracker starts processes in the repository; ``exec`` keeps the pid it stops.
        in_sandbox = ["/bin/sh", "-c", 'cd "$0" && exec "$@"', str(self.path), *argv]
        return self.procs.start(in_sandbox, env=env, name=name)
