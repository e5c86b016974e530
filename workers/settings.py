"""Typed worker settings, read once at the entry point from the environment (and the options).

Each field is declared once (:mod:`contract.fields`): its ``SHOAL_*`` variable, the option of
``shoal worker`` that mirrors it, the Helm value the chart sets it from, its kind, range and
default. A bad value raises :class:`SettingsError`, one line that names the variable and says
what it accepts, so the worker stops at start.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract import priority as priorities
from contract.connection import PASSWORD, URL, RedisSettings
from contract.delayed import lead_ms
from contract.fields import (
    ConfigError,
    Invalid,
    Kind,
    Setting,
    declared,
    env_names,
    read_env,
)
from contract.held import LIVENESS_TIMEOUT_S, beat_interval_s
from contract.kinds import Integer, ListOf, Number, Text, container_port, port
from contract.pools import (
    CONCURRENCY,
    POOL,
    PREFETCH_MULTIPLIER,
    Pool,
    default_concurrency,
    default_prefetch_multiplier,
)
from contract.queues import DEFAULT_QUEUE, QueueName
from contract.reporting import SENTRY_DSN, log_level_kind
from contract.teamapp import APP_KIND, app_helm

ENV_PREFIX = "SHOAL_"
MIN_LIVENESS_TIMEOUT_S = 5.0
RATE = re.compile(r"^(?P<n>\d+(\.\d+)?)/(?P<unit>s|m|h)$")
MODULE = r"^[A-Za-z_][A-Za-z0-9_.]*$"

__all__ = ["Pool", "RateLimit", "SettingsError", "WorkerSettings", "from_env"]


class SettingsError(ConfigError):
    """A setting is missing or malformed; the message names it and what it accepts."""


@dataclass(frozen=True)
class RateLimit:
    """A global limit held across every replica: ``scope`` is ``queue`` or ``task``."""

    scope: str
    name: str
    per_second: float

    @property
    def key(self) -> str:
        return f"{self.scope}:{self.name}"


def parse_rate(name: str, raw: str) -> float:
    """``5/s``, ``100/m`` or ``1000/h`` as a number per second."""
    try:
        return _rate(raw)
    except Invalid as exc:
        raise SettingsError(name, str(exc)) from None


def _rate(raw: str) -> float:
    match = RATE.match(raw.strip())
    if not match or float(match["n"]) <= 0:
        raise Invalid(f"expected a rate like 5/s, 100/m or 1000/h, got {raw!r}")
    per = {"s": 1.0, "m": 60.0, "h": 3600.0}[match["unit"]]
    return float(match["n"]) / per


class RateLimits(Kind[tuple[RateLimit, ...]]):
    """``queue:emails=5/s,task:billing.tasks.charge=100/m``."""

    what = "entries like queue:NAME=5/s or task:NAME=100/m"

    def parse_text(self, text: str) -> tuple[RateLimit, ...]:
        limits = []
        for item in (word.strip() for word in text.split(",")):
            if not item:
                continue
            target, sep, rate = item.partition("=")
            scope, colon, what = target.partition(":")
            if not sep or not colon or scope not in ("queue", "task") or not what:
                raise self.fail(item)
            limits.append(RateLimit(scope, what, _rate(rate)))
        return tuple(limits)


class Autoscale(Kind[tuple[int, int]]):
    """Celery's ``--autoscale MAX,MIN``."""

    what = "MAX,MIN (e.g. 10,3)"

    def parse_text(self, text: str) -> tuple[int, int]:
        bits = text.split(",")
        if len(bits) != 2:
            raise self.fail(text)
        try:
            high, low = (Integer(0).parse_text(bit) for bit in bits)
        except Invalid:
            raise self.fail(text) from None
        if high < 1 or low > high:
            raise Invalid(f"expected MAX,MIN with 1 <= MAX and MIN <= MAX, got {text!r}")
        return high, low


class MemoryLimit(Kind[int | None]):
    """Kilobytes, or ``0`` / ``none`` for no limit."""

    what = "a number of kilobytes >= 1, or 0 or none for no limit"
    unit = "kB"

    def parse_text(self, text: str) -> int | None:
        if text.strip().lower() in ("0", "none"):
            return None
        try:
            return Integer(1).parse_text(text)
        except Invalid:
            raise self.fail(text) from None


def _env(name: str, kind: Kind[Any], default: Any, doc: str, **where: Any) -> Any:
    """A field read from ``SHOAL_<NAME>`` only."""
    return Setting(kind, default, doc, env=ENV_PREFIX + name.upper(), **where).field()


def _seconds(name: str, default: float, doc: str) -> Any:
    """A duration from ``SHOAL_<NAME>``, in seconds, above 0."""
    return _env(name, Number(0, exclusive_minimum=True, unit="s"), default, doc)


@dataclass(frozen=True)
class WorkerSettings:
    redis_url: str = URL.field()
    redis_password: str | None = PASSWORD.field()
    result_backend_url: str | None = _env(
        "result_backend_url", URL.kind, None, "The result backend; default: the broker."
    )
    queues: tuple[str, ...] = _env(
        "queues",
        ListOf(QueueName(), what="queue names", min_items=1),
        (DEFAULT_QUEUE,),
        "Queues to consume (repeat the option for several); Celery's own default queue unless "
        "set (or, with --app, the app's task_default_queue).",
        options=("--queue", "-Q"),
    )
    pool: Pool = POOL.field()
    concurrency: int | None = CONCURRENCY.field()
    autoscale: tuple[int, int] | None = _env(
        "autoscale", Autoscale(), None, "Celery's in-process pool autoscaler, MAX,MIN.",
        options=("--autoscale",),
    )  # fmt: skip
    app: str | None = _env(
        "app",
        APP_KIND,
        None,
        "The team's own Celery app, as celery -A takes it: proj, proj.celery, proj.celery:app.",
        options=("--app", "-A"),
        helm=app_helm("queueDefaults.app"),
    )
    imports: tuple[str, ...] = _env(
        "imports",
        ListOf(Text(pattern=MODULE, rule="a module name"), what="module names"),
        (),
        "Task modules of the application teams, e.g. billing.tasks,email.tasks.",
        options=("--imports",),
        helm="queueDefaults.imports",
    )
    prefetch_multiplier: int | None = PREFETCH_MULTIPLIER.field()
    task_soft_time_limit_s: float = _seconds(
        "task_soft_time_limit_s", 300.0, "A task gets SoftTimeLimitExceeded after this."
    )
    task_time_limit_s: float = _seconds(
        "task_time_limit_s", 360.0, "A task's process is killed after this."
    )
    visibility_timeout_s: float = _seconds(
        "visibility_timeout_s",
        3600.0,
        "Redis redelivers an unacknowledged task after this; must exceed the hard time limit.",
    )
    result_expires_s: int = _env(
        "result_expires_s", Integer(1, unit="s"), 86400, "Results are kept this long."
    )
    drain_timeout_s: float = _env(
        "drain_timeout_s",
        Number(0, 86_400, whole=True, unit="s"),
        30.0,
        "On SIGTERM, running tasks get this long to finish (Celery's soft shutdown).",
        helm="queueDefaults.drainTimeoutSeconds",
    )
    max_memory_per_child_kb: int | None = _env(
        "max_memory_per_child_kb",
        MemoryLimit(),
        512_000,
        "Prefork only: a child using more is replaced after its task (0 or none: no limit).",
    )
    metrics_port: int = _env(
        "metrics_port",
        port(),
        9808,
        "The Prometheus port (0: off).",
        options=("--metrics-port",),
        helm=container_port("workers.metricsPort"),
    )
    health_port: int = _env(
        "health_port",
        port(),
        9809,
        "The /livez and /readyz port (0: off).",
        options=("--health-port",),
        helm=container_port("workers.healthPort"),
    )
    heartbeat_interval_s: float = _seconds(
        "heartbeat_interval_s", 2.0, "How often the in-flight count and heartbeat are written."
    )
    liveness_timeout_s: float = _seconds(
        "liveness_timeout_s",
        LIVENESS_TIMEOUT_S,
        "A worker whose heartbeat stops counts as dead this long after its last beat: the tasks "
        "it held go back to their queues then (never while it lives).",
    )
    park_threshold_s: float = _seconds(
        "park_threshold_s",
        10.0,
        "A task due later than this (ETA, countdown, retry backoff) waits in Redis, not in a "
        "worker; it returns to its queue shortly before it is due.",
    )
    sentry_dsn: str | None = SENTRY_DSN.field()
    rate_limits: tuple[RateLimit, ...] = _env(
        "rate_limits",
        RateLimits(),
        (),
        "Global limits, e.g. queue:emails=5/s,task:billing.tasks.charge=100/m.",
    )
    priority_steps: tuple[int, ...] = priorities.STEPS.field()
    priority_sep: str = priorities.SEPARATOR.field()
    worker_id: str = _env(
        "worker_id",
        Text(min_length=1),
        None,
        "Identity in Redis for in-flight accounting; the pod name in Kubernetes.",
        options=("--worker-id",),
        factory=socket.gethostname,
    )
    log_level: str = _env(
        "log_level",
        log_level_kind(),
        "WARNING",
        "WARNING, like Celery's own worker: no line per task (INFO logs one per task).",
        options=("--log-level",),
        helm="queueDefaults.logLevel",
    )
    dead_letter_max_len: int = _env(
        "dead_letter_max_len",
        Integer(1),
        10_000,
        "Each queue's dead-letter list keeps at most this many entries (oldest dropped).",
    )

    @property
    def redis(self) -> RedisSettings:
        """The broker, as every shoal process reaches it (:mod:`contract.connection`)."""
        return RedisSettings(self.redis_url, self.redis_password)

    @property
    def broker_url(self) -> str:
        return self.redis.url_with_password

    @property
    def backend_url(self) -> str:
        backend = RedisSettings(self.result_backend_url or self.redis_url, self.redis_password)
        return backend.url_with_password

    @property
    def priorities(self) -> priorities.Priorities:
        return priorities.Priorities(self.priority_steps, self.priority_sep)

    @property
    def effective_concurrency(self) -> int:
        if self.concurrency is not None:
            return self.concurrency
        return default_concurrency(self.pool)

    @property
    def effective_prefetch_multiplier(self) -> int:
        if self.prefetch_multiplier is not None:
            return self.prefetch_multiplier
        return default_prefetch_multiplier(self.pool)


SETTINGS = declared(WorkerSettings)


def from_env(env: Mapping[str, str] | None = None) -> WorkerSettings:
    """Read and validate every ``SHOAL_*`` variable (see :func:`unknown_variables` for typos)."""
    env = os.environ if env is None else env
    try:
        values = read_env(SETTINGS, env)
    except ConfigError as exc:
        raise SettingsError(exc.where, exc.problem) from None
    settings = WorkerSettings(**values)
    validate(settings)
    return settings


def validate(settings: WorkerSettings) -> None:
    """Rules across fields; each message names the settings involved."""
    if settings.task_soft_time_limit_s > settings.task_time_limit_s:
        raise SettingsError(
            "SHOAL_TASK_SOFT_TIME_LIMIT_S: must not exceed SHOAL_TASK_TIME_LIMIT_S "
            f"({settings.task_soft_time_limit_s} > {settings.task_time_limit_s})"
        )
    if settings.visibility_timeout_s <= settings.task_time_limit_s:
        raise SettingsError(
            "SHOAL_VISIBILITY_TIMEOUT_S: must exceed SHOAL_TASK_TIME_LIMIT_S, or Redis hands a "
            f"running task to a second worker ({settings.visibility_timeout_s} <= "
            f"{settings.task_time_limit_s})"
        )
    if settings.liveness_timeout_s < MIN_LIVENESS_TIMEOUT_S:
        raise SettingsError(
            f"SHOAL_LIVENESS_TIMEOUT_S: must be at least {MIN_LIVENESS_TIMEOUT_S:g} s (the worker "
            f"beats five times per timeout), got {settings.liveness_timeout_s}"
        )
    lead_s = lead_ms(beat_interval_s(settings.liveness_timeout_s)) / 1000
    if settings.park_threshold_s < 2 * lead_s:
        raise SettingsError(
            f"SHOAL_PARK_THRESHOLD_S: must be at least {2 * lead_s:g} s (twice the {lead_s:g} s "
            f"a delayed task returns before it is due), got {settings.park_threshold_s}"
        )
    if settings.autoscale and settings.concurrency:
        raise SettingsError("SHOAL_AUTOSCALE: set either SHOAL_AUTOSCALE or SHOAL_CONCURRENCY")


def known_variables() -> set[str]:
    """Every ``SHOAL_*`` variable a worker process reads, from the declarations."""
    from workers.health import HEALTH_FILE

    return env_names([*SETTINGS.values(), HEALTH_FILE])


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """``SHOAL_*`` variables that name no setting (typos), for a warning at start."""
    known = known_variables()
    return sorted(k for k in env if k.startswith(ENV_PREFIX) and k not in known)
