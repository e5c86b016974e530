"""Typed worker settings, read once at the entry point from the environment.

Every field has one environment variable, ``SHOAL_<FIELD>`` in upper case; the Helm chart sets
those. A bad value raises :class:`SettingsError` whose message names the variable and what it
accepts, so the worker stops at start with one line.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

from contract import priority as priorities
from contract.connection import RedisSettings, check_url
from contract.delayed import lead_ms
from contract.held import beat_interval_s
from contract.pools import Pool, default_concurrency, default_prefetch_multiplier
from contract.queues import RULE as QUEUE_RULE
from contract.queues import is_queue_name
from contract.secrets import secret_from_env

ENV_PREFIX = "SHOAL_"
MIN_LIVENESS_TIMEOUT_S = 5.0
RATE = re.compile(r"^(?P<n>\d+(\.\d+)?)/(?P<unit>s|m|h)$")

__all__ = ["Pool", "RateLimit", "SettingsError", "WorkerSettings", "from_env"]


class SettingsError(ValueError):
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


@dataclass(frozen=True)
class WorkerSettings:
    redis_url: str = "redis://localhost:6379/0"
    """Broker URL: redis://, rediss:// (TLS), sentinel:// or unix://."""
    redis_password: str | None = field(default=None, repr=False)
    """Redis password, put into URLs that carry none. Also from SHOAL_REDIS_PASSWORD_FILE."""
    result_backend_url: str | None = None
    """Result backend; defaults to the broker URL."""
    queues: tuple[str, ...] = ("default",)
    pool: Pool = Pool.PREFORK
    concurrency: int | None = None
    """Pool size; defaults to the CPU count for prefork and 200 for gevent."""
    autoscale: tuple[int, int] | None = None
    """Celery's in-process pool autoscaler, ``MAX,MIN``."""
    imports: tuple[str, ...] = ()
    """Task modules of the application teams, e.g. ``billing.tasks,email.tasks``."""
    prefetch_multiplier: int | None = None
    """Defaults per pool: 1 for prefork, 4 for gevent."""
    task_soft_time_limit_s: float = 300.0
    task_time_limit_s: float = 360.0
    visibility_timeout_s: float = 3600.0
    """Redis redelivers an unacknowledged task after this; must exceed the hard time limit."""
    result_expires_s: int = 86400
    drain_timeout_s: float = 30.0
    """On SIGTERM, running tasks get this long to finish (Celery's soft shutdown)."""
    max_memory_per_child_kb: int | None = 512_000
    """Prefork only: a child using more is replaced after its task."""
    metrics_port: int = 9808
    """0 turns the metrics endpoint off."""
    health_port: int = 9809
    """0 turns the health endpoint off."""
    heartbeat_interval_s: float = 2.0
    liveness_timeout_s: float = 20.0
    """A worker whose heartbeat stops counts as dead this long after its last beat: the tasks it
    held go back to their queues then (never while it lives)."""
    park_threshold_s: float = 10.0
    """A task due later than this (ETA, countdown, retry backoff) waits in Redis, not in a
    worker; it returns to its queue shortly before it is due."""
    sentry_dsn: str | None = field(default=None, repr=False)
    rate_limits: tuple[RateLimit, ...] = ()
    """Global limits, e.g. ``queue:emails=5/s,task:billing.tasks.charge=100/m``."""
    priority_steps: tuple[int, ...] = priorities.DEFAULT_STEPS
    priority_sep: str = priorities.DEFAULT_SEPARATOR
    worker_id: str = field(default_factory=socket.gethostname)
    """Identity in Redis for in-flight accounting; the pod name in Kubernetes."""
    log_level: str = "WARNING"
    """WARNING, like Celery's own worker: no line per task (INFO logs one per task)."""
    dead_letter_max_len: int = 10_000
    """Each queue's dead-letter list keeps at most this many entries (oldest dropped, counted)."""

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


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def _parse_url(name: str, raw: str) -> str:
    try:
        return check_url(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _parse_int(name: str, raw: str, *, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected an integer >= {minimum}, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name}: expected an integer >= {minimum}, got {value}")
    return value


def _parse_float(name: str, raw: str, *, positive: bool = True) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if positive and not value > 0:
        raise SettingsError(f"{name}: expected a number > 0, got {raw!r}")
    return value


def _parse_list(name: str, raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _parse_queues(name: str, raw: str) -> tuple[str, ...]:
    queues = _parse_list(name, raw)
    if not queues:
        raise SettingsError(f"{name}: expected one or more queue names separated by commas")
    for queue in queues:
        if not is_queue_name(queue):
            raise SettingsError(f"{name}: bad queue name {queue!r} ({QUEUE_RULE})")
    return queues


def _parse_pool(name: str, raw: str) -> Pool:
    try:
        return Pool(raw.strip().lower())
    except ValueError:
        raise SettingsError(f"{name}: expected 'prefork' or 'gevent', got {raw!r}") from None


def _parse_autoscale(name: str, raw: str) -> tuple[int, int]:
    bits = raw.split(",")
    if len(bits) != 2:
        raise SettingsError(f"{name}: expected MAX,MIN (e.g. 10,3), got {raw!r}")
    high, low = (_parse_int(name, b.strip()) for b in bits)
    if high < 1 or low > high:
        raise SettingsError(f"{name}: expected MAX,MIN with 1 <= MAX and MIN <= MAX, got {raw!r}")
    return high, low


def parse_rate(name: str, raw: str) -> float:
    """``5/s``, ``100/m`` or ``1000/h`` as a number per second."""
    match = RATE.match(raw.strip())
    if not match or float(match["n"]) <= 0:
        raise SettingsError(f"{name}: expected a rate like 5/s, 100/m or 1000/h, got {raw!r}")
    per = {"s": 1.0, "m": 60.0, "h": 3600.0}[match["unit"]]
    return float(match["n"]) / per


def _parse_rate_limits(name: str, raw: str) -> tuple[RateLimit, ...]:
    limits = []
    for item in _parse_list(name, raw):
        target, sep, rate = item.partition("=")
        scope, colon, what = target.partition(":")
        if not sep or not colon or scope not in ("queue", "task") or not what:
            raise SettingsError(
                f"{name}: expected entries like queue:NAME=5/s or task:NAME=100/m, got {item!r}"
            )
        limits.append(RateLimit(scope, what, parse_rate(name, rate)))
    return tuple(limits)


def _parse_steps(name: str, raw: str) -> tuple[int, ...]:
    try:
        return priorities.check_steps(_parse_int(name, s) for s in _parse_list(name, raw))
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _parse_log_level(name: str, raw: str) -> str:
    level = raw.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise SettingsError(f"{name}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


def _text(name: str, raw: str) -> str:
    return raw


def _optional_int(name: str, raw: str) -> int | None:
    return None if raw.strip().lower() in ("", "none", "0") else _parse_int(name, raw, minimum=1)


PARSERS: dict[str, Callable[[str, str], object]] = {
    "redis_url": _parse_url,
    "redis_password": _text,
    "result_backend_url": _parse_url,
    "queues": _parse_queues,
    "pool": _parse_pool,
    "concurrency": lambda n, r: _parse_int(n, r, minimum=1),
    "autoscale": _parse_autoscale,
    "imports": _parse_list,
    "prefetch_multiplier": lambda n, r: _parse_int(n, r, minimum=1),
    "task_soft_time_limit_s": _parse_float,
    "task_time_limit_s": _parse_float,
    "visibility_timeout_s": _parse_float,
    "result_expires_s": lambda n, r: _parse_int(n, r, minimum=1),
    "drain_timeout_s": lambda n, r: _parse_float(n, r, positive=False),
    "max_memory_per_child_kb": _optional_int,
    "metrics_port": lambda n, r: _parse_port(n, r),
    "health_port": lambda n, r: _parse_port(n, r),
    "heartbeat_interval_s": _parse_float,
    "liveness_timeout_s": _parse_float,
    "park_threshold_s": _parse_float,
    "sentry_dsn": _text,
    "rate_limits": _parse_rate_limits,
    "priority_steps": _parse_steps,
    "priority_sep": _text,
    "worker_id": _text,
    "log_level": _parse_log_level,
    "dead_letter_max_len": lambda n, r: _parse_int(n, r, minimum=1),
}


def _parse_port(name: str, raw: str) -> int:
    port = _parse_int(name, raw)
    if port > 65535:
        raise SettingsError(f"{name}: expected a port from 0 to 65535, got {port}")
    return port


def from_env(env: Mapping[str, str] | None = None) -> WorkerSettings:
    """Read and validate every ``SHOAL_*`` variable (see :func:`unknown_variables` for typos)."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for f in fields(WorkerSettings):
        name = env_name(f.name)
        raw = env.get(name)
        if raw is None or (raw.strip() == "" and f.name not in ("priority_sep",)):
            continue
        values[f.name] = PARSERS[f.name](name, raw)
    for secret in ("redis_password", "sentry_dsn"):
        try:
            value = secret_from_env(env, env_name(secret))
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        if value is not None:
            values[secret] = value
    settings = WorkerSettings(**values)  # type: ignore[arg-type]
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


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """``SHOAL_*`` variables that name no setting (typos), for a warning at start."""
    known = {env_name(f.name) for f in fields(WorkerSettings)}
    known |= {"SHOAL_REDIS_PASSWORD_FILE", "SHOAL_SENTRY_DSN_FILE", "SHOAL_CONFIG"}
    # Read by other parts of the same process tree, not by WorkerSettings.
    known |= {"SHOAL_HEALTH_FILE"}
    return sorted(k for k in env if k.startswith(ENV_PREFIX) and k not in known)
