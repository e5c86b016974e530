"""The settings a worker runs a team's app with, in three layers, said out loud.

One precedence, highest first:

1. **Platform guarantees** (:mod:`workers.guarantees`): what every shoal worker promises
   whatever the app says: JSON only, acks late with reject on worker lost, the priority
   transport and its options, prefetch per pool, drain on SIGTERM, reconnecting forever. Their
   values come from the ``SHOAL_*`` settings (or their defaults). Where the app sets another
   value it is overridden, with one WARNING line naming the setting, the app's value and the
   platform's.
2. **``SHOAL_*`` variables set explicitly** (by the chart or an operator) for the settings in
   ``FROM_ENVIRONMENT``: broker URL, result backend, queues, concurrency, time limits, result
   expiry, memory per child. They override the app's value, again with a line.
3. **The team's app** for everything else: time zone, routes, result backend and its options,
   time limits, annotations, default queue, task class, signals, beat schedule...
4. **Platform defaults** (the rest of :func:`workers.app.celery_config`) fill only what the app
   left unset. Time limits count as one pair: an app that sets either limit gets its own pair
   (no soft limit when it sets none), as ``celery worker`` would run it.

Refused, with one line (:class:`Refused`), where overriding would change what the team's code
does: a serializer other than JSON (its tasks would publish and store differently), a broker that
is not Redis, a ``global_keyprefix`` (its publishers would write other keys), its own
``worker_consumer``, a hard time limit not below the visibility timeout, a default queue whose
name breaks the queue-name rule, soft limit above hard limit.

Pure: the app's values come in as a mapping (:func:`read_team`), nothing is applied here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from contract.connection import check_url, ssl_options, with_password
from contract.queues import RULE as QUEUE_RULE
from contract.queues import is_queue_name
from workers.app import BUILTIN_TASKS, celery_config
from workers.guarantees import FROM_ENVIRONMENT, GUARANTEES, TRANSPORT_WHY
from workers.settings import SETTINGS, SettingsError, WorkerSettings, validate

TEAM_KEYS = ("broker_url", "result_backend", "task_default_queue")
"""Read from the app even when it did not set them: Celery's properties (the URLs include
``CELERY_BROKER_URL`` and ``CELERY_RESULT_BACKEND``) and its default queue ``celery``."""


class Source(StrEnum):
    PLATFORM = "platform"
    TEAM = "team"
    ENVIRONMENT = "environment"


class Refused(ValueError):
    """The app sets what the platform cannot run and cannot override; one line says which."""


_UNSET: Any = object()
"""The app did not set it (or its value is the one in force)."""


@dataclass(frozen=True)
class Entry:
    value: Any
    source: Source
    team: Any = _UNSET
    """The app's own value where another one won."""
    why: str = ""

    @property
    def overridden(self) -> bool:
        return self.team is not _UNSET


@dataclass(frozen=True)
class Layered:
    settings: WorkerSettings
    """The worker's settings with the app's broker, queues and concurrency where they apply."""
    conf: dict[str, Any]
    """What goes onto the app's ``conf``."""
    entries: dict[str, Entry]
    """Every setting someone set, with its source (for ``shoal config --app``)."""
    secrets: tuple[str, ...] = ()
    """Literal secrets of the app's own URLs, to mask in logs."""

    def lines(self) -> list[str]:
        """One line per overridden setting of the app."""
        return [line(key, e) for key, e in sorted(self.entries.items()) if e.overridden]


def line(key: str, entry: Entry) -> str:
    """``KEY: the app sets X; the platform runs Y: WHY`` or ``...; SHOAL_VAR sets Y``."""
    if entry.source is Source.ENVIRONMENT:
        return f"{key}: the app sets {entry.team!r}; {entry.why} sets {entry.value!r}"
    why = f": {entry.why}" if entry.why else ""
    return f"{key}: the app sets {entry.team!r}; the platform runs {entry.value!r}{why}"


def read_team(conf: Any, keys: AbstractSet[str]) -> dict[str, Any]:
    """The app's values: every key of ``keys`` it set, and :data:`TEAM_KEYS` as Celery reads
    them (``broker_url`` and ``result_backend`` include ``CELERY_BROKER_URL`` and friends)."""
    team = {k: getattr(conf, k) for k in sorted(keys) if conf.value_set_for(k)}
    for key in TEAM_KEYS:
        value = getattr(conf, key, None)
        if value is not None:
            team[key] = value
    return team


def layer(
    team: Mapping[str, Any], *, settings: WorkerSettings, explicit: AbstractSet[str]
) -> Layered:
    """The app's values ``team`` under ``settings`` (from ``SHOAL_*``; ``explicit`` names the
    fields set explicitly) by the precedence above; :class:`Refused` for what cannot run."""
    effective = _effective_settings(team, settings, explicit)
    platform = celery_config(effective)
    transport = platform.pop("broker_transport_options")
    entries: dict[str, Entry] = {}
    for key in ("task_default_queue", "task_cls", "imports"):  # the app's, merged or composed
        platform.pop(key, None)
    for key, value in platform.items():
        entries[key] = _decide(key, value, team, explicit)
    entries.update(_broker(team, effective, explicit))
    _check_serializers(team)
    entries.update(_transport(team, transport))
    entries["imports"] = _imports(team, effective)
    entries.update(_runtime(team, effective, explicit))
    entries.update(_time_limits(team, effective, explicit))
    entries["result_backend"] = _result_backend(team, effective, explicit)
    _backend_tls(entries, team)
    for key, value in team.items():
        entries.setdefault(key, Entry(value, Source.TEAM))
    _check_limits(entries, effective)
    conf = {k: e.value for k, e in entries.items() if k not in RUNTIME_ONLY and "." not in k}
    backend = entries["result_backend"].value
    secrets = tuple(_url_secrets(backend)) if isinstance(backend, str) else ()
    return Layered(effective, conf, entries, secrets)


RUNTIME_ONLY = frozenset({"worker_pool", "worker_concurrency", "task_default_queue", "queues"})
"""Reported, but decided on the worker's command line rather than in ``conf`` (as are the
``broker_transport_options.<key>`` entries, reported one by one, set as one mapping)."""


def _effective_settings(
    team: Mapping[str, Any], settings: WorkerSettings, explicit: AbstractSet[str]
) -> WorkerSettings:
    changes: dict[str, Any] = {}
    broker = team.get("broker_url")
    if "redis_url" not in explicit and broker:
        try:
            changes["redis_url"] = check_url(str(broker))
        except ValueError as exc:
            raise Refused(
                f"broker_url {_masked(broker)!r} (the app's): shoal runs on Redis ({exc}); "
                f"set {env_name('redis_url')} to run this worker on Redis"
            ) from None
    queue = team.get("task_default_queue")
    if "queues" not in explicit and queue:
        if not is_queue_name(queue):
            raise Refused(
                f"task_default_queue {queue!r} (the app's): not a queue name ({QUEUE_RULE})"
            )
        changes["queues"] = (queue,)
    concurrency = team.get("worker_concurrency")
    usable = isinstance(concurrency, int) and not isinstance(concurrency, bool) and concurrency > 0
    if "concurrency" not in explicit and usable and settings.autoscale is None:
        changes["concurrency"] = concurrency
    effective = dataclasses.replace(settings, **changes)
    try:
        validate(effective)
    except SettingsError as exc:
        raise Refused(str(exc)) from None
    return effective


def _broker(
    team: Mapping[str, Any], settings: WorkerSettings, explicit: AbstractSet[str]
) -> dict[str, Entry]:
    """One broker URL: the app's (with the platform's password where it has none) unless
    ``SHOAL_REDIS_URL`` is set; ``broker_read_url``/``broker_write_url`` point at it too."""
    ours = settings.broker_url
    if "redis_url" in explicit:
        entries = {"broker_url": _from_environment("broker_url", ours, team, "redis_url")}
    else:
        entries = {
            "broker_url": Entry(ours, Source.TEAM if "broker_url" in team else Source.PLATFORM)
        }
    for key in ("broker_read_url", "broker_write_url"):
        if team.get(key) and team[key] != ours:
            entries[key] = Entry(None, Source.PLATFORM, team[key], "one broker URL for the worker")
    return entries


def _decide(key: str, value: Any, team: Mapping[str, Any], explicit: AbstractSet[str]) -> Entry:
    """One key of the platform's config against the app's value."""
    if key in GUARANTEES:
        if key in team and not _same(team[key], value):
            if key == "worker_consumer":
                raise Refused(
                    f"worker_consumer {team[key]!r} (the app's): shoal runs its own consumer "
                    "(dead letters for what it cannot run) and cannot compose another"
                )
            return Entry(value, Source.PLATFORM, team[key], GUARANTEES[key])
        return Entry(value, Source.PLATFORM)
    field_name = FROM_ENVIRONMENT.get(key)
    if field_name is not None and field_name in explicit:
        return _from_environment(key, value, team, field_name)
    if key in team:
        return Entry(team[key], Source.TEAM)
    return Entry(value, Source.PLATFORM)


def _from_environment(key: str, value: Any, team: Mapping[str, Any], field_name: str) -> Entry:
    why = env_name(field_name)  # (a command-line option of shoal worker sets the same)
    if key in team and not _same(team[key], value):
        return Entry(value, Source.ENVIRONMENT, team[key], why)
    return Entry(value, Source.ENVIRONMENT, why=why)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple | set | frozenset) and isinstance(b, list | tuple):
        return sorted(map(str, a)) == sorted(map(str, b))
    return bool(a == b)


def _check_serializers(team: Mapping[str, Any]) -> None:
    for key in ("task_serializer", "result_serializer"):
        value = team.get(key)
        if value is not None and str(value).lower() != "json":
            raise Refused(
                f"{key} {value!r} (the app's): shoal workers run JSON only, and forcing JSON "
                "would change what your tasks publish and store; use 'json'"
            )


def _transport(team: Mapping[str, Any], ours: Mapping[str, Any]) -> dict[str, Entry]:
    """The app's transport options with the platform's keys over them: one entry for the
    whole, one ``broker_transport_options.<key>`` entry per key the app had otherwise."""
    theirs = dict(team.get("broker_transport_options") or {})
    if "global_keyprefix" in theirs:
        raise Refused(
            f"broker_transport_options.global_keyprefix {theirs['global_keyprefix']!r} (the "
            "app's): shoal reads the queue lists by name; your publishers would write elsewhere"
        )
    merged = {**theirs, **ours}
    entries = {
        "broker_transport_options": Entry(merged, Source.TEAM if theirs else Source.PLATFORM)
    }
    for key, value in ours.items():
        if key in theirs and not _same(theirs[key], value):
            why = TRANSPORT_WHY.get(key, "")
            entries[f"broker_transport_options.{key}"] = Entry(
                value, Source.PLATFORM, theirs[key], why
            )
    return entries


def _imports(team: Mapping[str, Any], settings: WorkerSettings) -> Entry:
    """The app's own modules first, then shoal's built-in tasks and ``SHOAL_IMPORTS``."""
    theirs = tuple(team.get("imports") or ())
    modules = tuple(dict.fromkeys((*theirs, BUILTIN_TASKS, *settings.imports)))
    return Entry(modules, Source.TEAM if theirs else Source.PLATFORM)


def _runtime(
    team: Mapping[str, Any], settings: WorkerSettings, explicit: AbstractSet[str]
) -> dict[str, Entry]:
    """Pool, concurrency and queues: the worker's command line, decided before the app loads."""
    entries: dict[str, Entry] = {}
    pool = settings.pool.value
    theirs = team.get("worker_pool")
    if theirs is not None and str(theirs) != pool and theirs != "prefork":
        why = "the pool is chosen before the app is imported (SHOAL_POOL)"
        entries["worker_pool"] = Entry(pool, Source.PLATFORM, theirs, why)
    concurrency = settings.effective_concurrency
    src = Source.ENVIRONMENT if "concurrency" in explicit else Source.PLATFORM
    theirs = team.get("worker_concurrency")
    if theirs is not None and theirs != concurrency:
        entries["worker_concurrency"] = Entry(concurrency, src, theirs, env_name("concurrency"))
    elif theirs is not None:
        entries["worker_concurrency"] = Entry(concurrency, Source.TEAM)
    # The queues this worker consumes: --queue/SHOAL_QUEUES, else the app's default queue, as
    # `celery -A proj worker [-Q ...]` (the app's task_default_queue stays what it publishes to).
    queues = Source.ENVIRONMENT if "queues" in explicit else Source.TEAM
    entries["queues"] = Entry(list(settings.queues), queues)
    if "task_default_queue" in team:
        entries["task_default_queue"] = Entry(team["task_default_queue"], Source.TEAM)
    return entries


def _time_limits(
    team: Mapping[str, Any], settings: WorkerSettings, explicit: AbstractSet[str]
) -> dict[str, Entry]:
    """A pair: the app's own limits when it set either (no soft limit if it set none)."""
    team_pair = "task_time_limit" in team or "task_soft_time_limit" in team
    entries: dict[str, Entry] = {}
    for key, ours in (
        ("task_time_limit", settings.task_time_limit_s),
        ("task_soft_time_limit", settings.task_soft_time_limit_s),
    ):
        field_name = FROM_ENVIRONMENT[key]
        if field_name in explicit:
            entries[key] = _from_environment(key, ours, team, field_name)
        elif key in team:
            entries[key] = Entry(team[key], Source.TEAM)
        elif key == "task_soft_time_limit" and team_pair:
            entries[key] = Entry(None, Source.TEAM)
        else:
            entries[key] = Entry(ours, Source.PLATFORM)
    return entries


def _check_limits(entries: Mapping[str, Entry], settings: WorkerSettings) -> None:
    hard, soft = entries["task_time_limit"], entries["task_soft_time_limit"]
    if hard.value is None:
        raise Refused(
            f"task_time_limit None ({hard.source}): a task without a hard time limit could run "
            f"past the visibility timeout ({settings.visibility_timeout_s:g} s) and run twice; "
            "set one below it"
        )
    if soft.value is not None and float(soft.value) > float(hard.value):
        raise Refused(
            f"task_soft_time_limit {soft.value!r} ({soft.source}) exceeds task_time_limit "
            f"{hard.value!r} ({hard.source}); set both"
        )
    if float(hard.value) >= settings.visibility_timeout_s:
        raise Refused(
            f"task_time_limit {hard.value!r} ({hard.source}) is not below the visibility "
            f"timeout {settings.visibility_timeout_s:g} s ({env_name('visibility_timeout_s')}):"
            " Redis would hand a running task to a second worker"
        )


def _result_backend(
    team: Mapping[str, Any], settings: WorkerSettings, explicit: AbstractSet[str]
) -> Entry:
    """The app's backend unless ``SHOAL_RESULT_BACKEND_URL`` is set; the broker's otherwise.
    The platform's Redis password goes into the app's URL only for the broker's own server."""
    ours = settings.backend_url
    if "result_backend_url" in explicit:
        return _from_environment("result_backend", ours, team, "result_backend_url")
    theirs = team.get("result_backend")
    if not theirs:
        return Entry(ours, Source.PLATFORM)
    url = str(theirs)
    if settings.redis_password and _same_server(url, settings.redis_url):
        url = with_password(url, settings.redis_password)
    return Entry(url, Source.TEAM)


def _backend_tls(entries: dict[str, Entry], team: Mapping[str, Any]) -> None:
    """TLS options for the result backend that is used (the platform's were for its own)."""
    if "redis_backend_use_ssl" in team:
        return
    backend = entries["result_backend"].value
    tls = ssl_options(backend) if isinstance(backend, str) else None
    if tls:
        entries["redis_backend_use_ssl"] = Entry(tls, Source.PLATFORM)
    else:
        entries.pop("redis_backend_use_ssl", None)


def _same_server(url: str, broker: str) -> bool:
    try:
        a, b = urlsplit(url), urlsplit(broker)
        return a.scheme in ("redis", "rediss") and (a.hostname, a.port) == (b.hostname, b.port)
    except ValueError:
        return False


def _url_secrets(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    return [parts.password] if parts.password else []


def _masked(value: Any) -> str:
    from workers.redact import mask_text

    return mask_text(str(value))


def env_name(attr: str) -> str:
    """The variable a worker setting is read from (its declaration's)."""
    variable = SETTINGS[attr].env
    assert variable is not None, attr
    return variable


def explicit_fields(env: Mapping[str, str]) -> frozenset[str]:
    """The settings fields whose ``SHOAL_*`` variable (or a secret's ``_FILE``) ``env`` sets."""
    names = set()
    for attr, setting in SETTINGS.items():
        if not setting.env:
            continue
        given = env.get(setting.env, "").strip()
        if not given and setting.secret:
            given = env.get(setting.env + "_FILE", "").strip()
        if given:
            names.add(attr)
    return frozenset(names)
