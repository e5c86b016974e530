"""A team's own Celery app on a shoal worker: the platform layer installed onto it.

``shoal worker --app proj``: :func:`contract.teamapp.load_app` loads the app (Django set up
first), :func:`prepare` reads what the app set and lays the platform's settings over it
(:mod:`workers.layers`), and :func:`adopt` puts the result on the app: its ``conf``, shoal's
built-in tasks and ``SHOAL_IMPORTS``, the platform task layer composed with each task's own class
(:mod:`workers.compose`), and the worker's hooks (consumer, metrics, health, in-flight
accounting, drain, Sentry). The worker then runs the team's app object itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from celery import Celery, Task, signals
from celery.app.defaults import SETTING_KEYS

from contract.teamapp import TeamAppError, one_line
from workers.compose import compose_tasks
from workers.layers import Layered, Refused, explicit_fields, layer, read_team
from workers.settings import WorkerSettings

ENVIRONMENT_URLS = {
    "CELERY_BROKER_URL": "broker_url",
    "CELERY_RESULT_BACKEND": "result_backend",
    "CELERY_BROKER_READ_URL": "broker_read_url",
    "CELERY_BROKER_WRITE_URL": "broker_write_url",
}
"""Variables Celery reads before the app's conf (``Settings.broker_url`` and friends)."""


def prepare(app: Celery, settings: WorkerSettings, env: Mapping[str, str]) -> Layered:
    """The app's settings under the platform's; :class:`Refused` for what cannot run."""
    team = read_team(app.conf, set(SETTING_KEYS))
    for variable, key in ENVIRONMENT_URLS.items():
        if key not in team and os.environ.get(variable):
            team[key] = os.environ[variable]
    return layer(team, settings=settings, explicit=explicit_fields(env))


def adopt(app: Celery, layered: Layered, *, install_hooks: bool = True) -> list[str]:
    """Install the platform layer onto ``app``; returns the lines about its tasks.

    :class:`Refused` when a task asks for what cannot run (a pickle serializer, a hard time
    limit not below the visibility timeout), :class:`TeamAppError` when a module of
    ``SHOAL_IMPORTS`` cannot be imported.
    """
    bound_early = bool(app.finalized)
    before = {key: app.conf.get(key) for _, key in _FROM_CONFIG} if bound_early else {}
    app.conf.update(layered.conf)
    _align_environment(layered.conf)
    if bound_early:
        _rebind(app, before)
    app.shoal_settings = layered.settings  # type: ignore[attr-defined]
    # The loader cached the module list when load_app imported the app's modules.
    app.loader.__dict__.pop("default_modules", None)
    try:
        for module in layered.conf["imports"]:  # shoal's built-in tasks and SHOAL_IMPORTS
            app.loader.import_task_module(module)
    except (Exception, SystemExit) as exc:
        raise TeamAppError(f"SHOAL_IMPORTS: a module failed to import: {one_line(exc)}") from None
    compose_tasks(app)
    lines = check_tasks(app, layered.settings)
    if install_hooks:
        from workers import hooks

        hooks.install(app, layered.settings, extra_secrets=layered.secrets)
        _compose_at_start(app)
    return lines


def _align_environment(conf: Mapping[str, Any]) -> None:
    """Celery reads ``CELERY_BROKER_URL`` (and friends) before the conf: where the app's
    environment names another URL than the one decided, the variable follows the decision
    (the app's own code, and the processes it starts, see the same URL)."""
    for variable, key in ENVIRONMENT_URLS.items():
        if variable not in os.environ or key not in conf:
            continue
        value = conf[key]
        if value is None:
            del os.environ[variable]
        elif os.environ[variable] != value:
            os.environ[variable] = str(value)


_FROM_CONFIG: tuple[tuple[str, str], ...] = tuple(Task.from_config)


def _rebind(app: Celery, before: Mapping[str, Any]) -> None:
    """The app was finalized before its conf changed (its module touched ``app.tasks``), so
    its tasks copied the old conf values when Celery bound them: take the new ones for every
    option that still holds the old conf value, as binding now would have."""
    for task in app.tasks.values():
        cls = type(task)
        for attr, key in _FROM_CONFIG:
            old, new = before.get(key), app.conf.get(key)
            if old != new and getattr(cls, attr, None) == old:
                setattr(cls, attr, new)


def check_tasks(app: Celery, settings: WorkerSettings) -> list[str]:
    """Per-task options against the guarantees: refuse what cannot run, say what is kept."""
    lines = []
    for name, task in sorted(app.tasks.items()):
        serializer = getattr(task, "serializer", None)
        if serializer is not None and str(serializer).lower() != "json":
            raise Refused(
                f"task {name}: serializer {serializer!r}: shoal workers run JSON only, and "
                "forcing JSON would change what the task publishes; use 'json'"
            )
        hard = getattr(task, "time_limit", None)
        if hard is not None and float(hard) >= settings.visibility_timeout_s:
            raise Refused(
                f"task {name}: time_limit {hard!r} is not below the visibility timeout "
                f"{settings.visibility_timeout_s:g} s (SHOAL_VISIBILITY_TIMEOUT_S): Redis would"
                " hand it to a second worker while it runs"
            )
        if getattr(task, "acks_late", True) is False:
            lines.append(
                f"task {name}: acks_late=False on the task itself is kept: at most once, a "
                "worker lost while it runs loses it (every other task is acknowledged late)"
            )
    return lines


def _compose_at_start(app: Celery) -> None:
    """Tasks registered after :func:`adopt` (a module imported at finalize) get the layer when
    the worker starts, before the consumer reads their request classes."""

    def on_init(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is app:
            compose_tasks(app)

    signals.worker_init.connect(on_init, weak=False)
