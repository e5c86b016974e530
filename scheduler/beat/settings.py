"""A beat replica's settings: typed, frozen, read once from options and ``SHOAL_*`` variables.

Its sources are ``--schedules FILE``, ``--app APP`` (``SHOAL_APP``: the team's ``beat_schedule``,
or django-celery-beat's tables) or both.

Each field is declared once (:mod:`contract.fields`) with its option, variable and kind, and the
options of ``shoal beat`` are built from the declarations. Redis comes from
:mod:`contract.connection` (the one precedence, a password file included) and the priority lists
from :mod:`contract.priority` (``SHOAL_PRIORITY_STEPS`` / ``SHOAL_PRIORITY_SEP``), exactly as the
workers read them.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.connection import URL, RedisSettings
from contract.fields import ConfigError, Setting, declared, option_texts, read_env
from contract.kinds import Boolean, Number, Text, container_port, port
from contract.priority import Priorities
from contract.reporting import SENTRY_DSN, SERVICE_LOG_LEVEL
from contract.teamapp import APP_KIND, app_helm

DEFAULT_METRICS_PORT = 9812


class BeatSettingsError(ConfigError):
    """A setting is malformed; the message names it."""


@dataclass(frozen=True)
class BeatSettings:
    schedules_path: Path | None = None
    """``--schedules``: the schedules file (None: none)."""
    app: str | None = Setting(
        APP_KIND,
        None,
        "The team's Celery app, as celery -A takes it: its beat_schedule, or django-celery-beat's "
        "tables when it uses their DatabaseScheduler, are scheduled beside the file.",
        env="SHOAL_APP",
        options=("--app", "-A"),
        helm=app_helm("beat.app"),
    ).field()
    redis: RedisSettings = field(default_factory=RedisSettings)
    """The broker the tasks go to and where the beat keeps its state."""
    priorities: Priorities = field(default_factory=Priorities)
    """The priority lists the messages go to: the workers' steps and separator."""
    leader_lease: bool = Setting(
        Boolean(),
        True,
        "One replica fires, the others stand by (--no-leader-lease: every replica tries every "
        "tick; the fence still fires each once).",
        options=("--leader-lease",),
    ).field()
    lease_s: float = Setting(
        Number(0, exclusive_minimum=True, unit="s"),
        10.0,
        "A crashed leader is replaced within this time.",
        options=("--lease-s",),
    ).field()
    metrics_port: int = Setting(
        port(),
        DEFAULT_METRICS_PORT,
        "The Prometheus metrics port (0: off).",
        options=("--metrics-port",),
        helm=container_port("beat.metricsPort"),
    ).field()
    log_level: str = SERVICE_LOG_LEVEL.field()
    reload_interval_s: float = Setting(
        Number(0, exclusive_minimum=True, unit="s"),
        1.0,
        "How often the sources are checked for changes (the file's stamp, the database's "
        "change marker).",
    ).field()
    max_sleep_s: float = Setting(
        Number(0, exclusive_minimum=True, unit="s"),
        1.0,
        "The longest sleep between two looks at the schedule.",
    ).field()
    sentry_dsn: str | None = SENTRY_DSN.field()
    """Sentry Crons check-ins per entry when set."""
    replica_id: str = Setting(
        Text(min_length=1),
        None,
        "This replica's name in the lease.",
        factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
    ).field()

    def __post_init__(self) -> None:
        if self.schedules_path is None and not self.app:
            raise BeatSettingsError("give --schedules FILE, --app APP (SHOAL_APP) or both")


SETTINGS = declared(BeatSettings)
"""The settings read from options and variables; Redis and the priorities have their own."""


def add_options(parser: argparse.ArgumentParser) -> None:
    """``--redis-url`` and the options the settings declare."""
    from contract.fields import add_options as add

    add(parser, {"redis_url": URL, **SETTINGS})


def log_level(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    """``--log-level``, else ``SHOAL_LOG_LEVEL``, else INFO; checked like every setting."""
    chosen = {"log_level": SETTINGS["log_level"]}
    values = read_env(chosen, env, options=option_texts(args, chosen))
    return str(values.get("log_level", SETTINGS["log_level"].default))


def app(args: argparse.Namespace, env: Mapping[str, str]) -> str | None:
    """``--app``, else ``SHOAL_APP``, else None; checked like every setting."""
    chosen = {"app": SETTINGS["app"]}
    value = read_env(chosen, env, options=option_texts(args, chosen)).get("app")
    return str(value) if value else None


def from_args(args: argparse.Namespace, env: Mapping[str, str], **given: Any) -> BeatSettings:
    """The settings of ``shoal beat``: options over variables over defaults.
    :class:`BeatSettingsError` names the option or variable that is wrong."""
    try:
        values = read_env(SETTINGS, env, options=option_texts(args, SETTINGS))
        return BeatSettings(
            schedules_path=args.schedules,
            redis=RedisSettings.from_env(env, url_option=args.redis_url),
            priorities=Priorities.from_env(env),
            **values,
            **given,
        )
    except ConfigError as exc:
        raise BeatSettingsError(exc.where, exc.problem) from None
