"""The publisher kit: one call that sets up an application team's own Celery app for shoal.

    from celery import Celery
    from workers.kit import configure

    app = Celery("billing")
    configure(app, redis_url="redis://redis:6379/0", routes={"billing.*": "billing"})
    app.send_task("billing.charge", args=[42], priority=9)

It sets JSON only, the priority convention (0..9, 9 the most urgent, none = 0 = the least),
the broker transport options the workers use (priority steps and separator, visibility
timeout), a ``published_at`` header on every task published from this process (epoch seconds,
for the queue-wait metric), and a routing table: task name patterns to queues, plus a hook that
routes on arguments. It adds to the app's settings and keeps the rest: its routes come after
the app's own ``task_routes`` (the app's win on a tie), the app's result backend stays.

The kit is what ``pip install shoal`` installs (Celery, kombu, redis): importing it loads
neither the worker runtime nor kubernetes, gevent, prometheus-client, sentry-sdk or PyYAML.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from celery import Celery
from celery.signals import before_task_publish

from contract import priority

DEFAULT_PRIORITY_STEPS = priority.DEFAULT_STEPS
DEFAULT_SEP = priority.DEFAULT_SEPARATOR
PUBLISHED_AT = "published_at"
JSON_ONLY = ("task_serializer", "result_serializer", "accept_content", "result_accept_content")
log = logging.getLogger("shoal.kit")

RouteHook = Callable[[str, tuple[Any, ...], dict[str, Any], dict[str, Any]], str | None]
"""``route_hook(name, args, kwargs, options) -> queue or None`` (None: use the table)."""


def match_route(name: str, routes: Iterable[tuple[str, str]]) -> str | None:
    """The queue of the first pattern (shell-style glob, ``billing.*``) that matches ``name``."""
    for pattern, queue in routes:
        if fnmatchcase(name, pattern):
            return queue
    return None


class Router:
    """A Celery ``task_routes`` router: the hook first, then the pattern table."""

    def __init__(
        self,
        routes: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        hook: RouteHook | None = None,
    ) -> None:
        pairs = routes.items() if isinstance(routes, Mapping) else (routes or ())
        self.routes: tuple[tuple[str, str], ...] = tuple((str(p), str(q)) for p, q in pairs)
        self.hook = hook

    def __call__(
        self,
        name: str,
        args: Any,
        kwargs: Any,
        options: Any,
        task: Any = None,
        **_: Any,
    ) -> dict[str, str] | None:
        if self.hook is not None:
            queue = self.hook(name, tuple(args or ()), dict(kwargs or {}), dict(options or {}))
            if queue:
                return {"queue": queue}
        queue = match_route(name, self.routes)
        return {"queue": queue} if queue else None


PUBLISH_HOOK_UID = "shoal.kit.published_at"
"""The ``before_task_publish`` receiver that stamps ``published_at`` (process-wide, once)."""


def stamp_published_at(headers: dict[str, Any] | None, now: float) -> None:
    """Set the ``published_at`` header (epoch seconds) to the time of this publish."""
    if headers is not None:
        headers[PUBLISHED_AT] = now


def _on_publish(sender: Any = None, headers: dict[str, Any] | None = None, **_: Any) -> None:
    stamp_published_at(headers, time.time())


def transport_options(
    *, priority_steps: Iterable[int], sep: str, visibility_timeout_s: float
) -> dict[str, Any]:
    try:
        steps = list(priority.check_steps(priority_steps))
    except ValueError as exc:
        raise ValueError(f"priority_steps: {exc}") from None
    return {
        "priority_steps": steps,
        "sep": sep,
        "visibility_timeout": int(visibility_timeout_s),
    }


def with_router(existing: Any, router: Router) -> tuple[Any, ...]:
    """The app's ``task_routes`` (any form Celery takes) with ``router`` after them; a router
    of an earlier :func:`configure` call is replaced, not stacked."""
    if existing is None:
        routes: tuple[Any, ...] = ()
    elif isinstance(existing, list | tuple):
        routes = tuple(existing)
    else:
        routes = (existing,)
    return (*(r for r in routes if not isinstance(r, Router)), router)


def configure(
    app: Celery,
    *,
    redis_url: str | None = None,
    routes: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    route_hook: RouteHook | None = None,
    priority_steps: Iterable[int] = DEFAULT_PRIORITY_STEPS,
    sep: str = DEFAULT_SEP,
    visibility_timeout_s: float = 3600.0,
    default_priority: int | None = None,
) -> Celery:
    """Configure ``app`` (a team's own Celery app) to publish to shoal; returns ``app``.

    Set: JSON only (a different serializer of the app is replaced, with a warning), the
    transport options, ``broker_url`` (when ``redis_url`` is given) and the routes, added after
    the app's own. Filled only where the app has none: the result backend (``redis_url``), the
    default priority (0, or ``default_priority``), ``task_create_missing_queues``,
    ``broker_connection_retry_on_startup``.
    """
    conf = app.conf
    options = dict(conf.broker_transport_options or {})
    options.update(
        transport_options(
            priority_steps=priority_steps, sep=sep, visibility_timeout_s=visibility_timeout_s
        )
    )
    json_only: dict[str, Any] = {
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
    }
    for key, value in json_only.items():
        if conf.value_set_for(key) and conf[key] not in (value, tuple(value), "json"):
            log.warning("shoal kit: %s %r replaced by %r (shoal workers run JSON only)",
                        key, conf[key], value)  # fmt: skip
    updates: dict[str, Any] = {
        **json_only,
        "task_protocol": 2,
        "broker_transport_options": options,
    }
    fill: dict[str, Any] = {
        "task_default_priority": 0,
        "task_create_missing_queues": True,
        "broker_connection_retry_on_startup": True,
    }
    if redis_url:
        updates["broker_url"] = redis_url
        fill["result_backend"] = redis_url
    for key, value in fill.items():
        present = bool(conf.result_backend) if key == "result_backend" else conf.value_set_for(key)
        if not present:
            updates[key] = value
    if default_priority is not None:
        updates["task_default_priority"] = default_priority
    if routes is not None or route_hook is not None:
        updates["task_routes"] = with_router(conf.task_routes, Router(routes, route_hook))
    conf.update(updates)
    before_task_publish.connect(_on_publish, weak=False, dispatch_uid=PUBLISH_HOOK_UID)
    return app
