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
routes on arguments. The kit imports neither the worker runtime nor gevent.
"""

from __future__ import annotations

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


def configure(
    app: Celery,
    *,
    redis_url: str | None = None,
    routes: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    route_hook: RouteHook | None = None,
    priority_steps: Iterable[int] = DEFAULT_PRIORITY_STEPS,
    sep: str = DEFAULT_SEP,
    visibility_timeout_s: float = 3600.0,
    default_priority: int = 0,
) -> Celery:
    """Configure ``app`` (a team's own Celery app) to publish to shoal; returns ``app``."""
    options = dict(app.conf.broker_transport_options or {})
    options.update(
        transport_options(
            priority_steps=priority_steps, sep=sep, visibility_timeout_s=visibility_timeout_s
        )
    )
    conf: dict[str, Any] = {
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_protocol": 2,
        "task_default_priority": default_priority,
        "broker_transport_options": options,
        "broker_connection_retry_on_startup": True,
        "task_create_missing_queues": True,
    }
    if redis_url:
        conf["broker_url"] = redis_url
        conf["result_backend"] = redis_url
    if routes is not None or route_hook is not None:
        conf["task_routes"] = (Router(routes, route_hook),)
    app.conf.update(conf)
    before_task_publish.connect(_on_publish, weak=False, dispatch_uid=PUBLISH_HOOK_UID)
    return app
