"""An app or database entry's publishing options, resolved as Celery resolves them.

What ``celery beat`` does for an entry, step by step (Celery 5's ``Task.apply_async``,
``Celery.send_task`` and ``amqp.send_task_message``), here done once when the entry is loaded:
the registered task's own options (``Task.queue``, ``priority``, ``expires``, time limits,
``ignore_result``) under the entry's ``options``; the app's ``task_routes`` through Celery's own
router (the entry's own queue wins over a route, as in Celery); the default queue; a direct
exchange published through the default exchange to the queue's list. The result is a
:class:`~scheduler.beat.spec.Signature` whose message :mod:`scheduler.beat.message` builds
exactly like Celery's (a test compares the two).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scheduler.beat.cron import zone
from scheduler.beat.spec import Signature

SUPPORTED = frozenset(
    {
        "queue", "exchange", "routing_key", "priority", "expires", "headers", "time_limit",
        "soft_time_limit", "ignore_result", "shadow", "serializer",
    }
)  # fmt: skip


class OptionError(ValueError):
    """An option shoal beat cannot publish as Celery would; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Publish:
    """How one entry's task is published."""

    signature: Signature
    expires_s: float | None = None
    expires_at: datetime | None = None


def json_values(name: str, value: object) -> None:
    """``OptionError`` unless ``value`` is made of JSON values (the beat publishes JSON)."""
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise OptionError(name, f"is not made of JSON values ({exc})") from None


def _task_options(app: Any, task: str, args: Sequence[Any], kwargs: Mapping[str, Any],
                  options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """A registered task's own options under the entry's (``Task.apply_async``)."""
    task_type = app.tasks.get(task)
    if task_type is None:
        return None, options
    check = getattr(task_type, "__header__", None) if task_type.typing else None
    if check is not None:  # Celery refuses to publish such a call at every tick; say it once
        try:
            check(*args, **kwargs)
        except TypeError as exc:
            raise OptionError("args", f"do not fit the task: {exc}") from None
    own = {k: v for k, v in task_type._get_exec_options().items() if v is not None}
    merged = dict(own, **options)
    merged.setdefault("ignore_result", task_type.ignore_result)
    if "shadow" not in merged:
        shadow = task_type.shadow_name(list(args), dict(kwargs), merged)
        if shadow is not None:
            merged["shadow"] = shadow
    return task_type, merged


def _expiry(value: object, app_zone: str) -> tuple[float | None, datetime | None]:
    if value is None or value == 0:
        return None, None
    if isinstance(value, bool):
        raise OptionError("expires", f"{value!r} is not a number of seconds or a date-time")
    if isinstance(value, int | float):
        if value < 0:
            raise OptionError("expires", f"{value} is negative")
        return float(value), None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise OptionError("expires", f"{value!r} is not an ISO date-time") from None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=zone(app_zone))
        return None, aware.astimezone(UTC)
    raise OptionError("expires", f"{value!r} is not a number of seconds or a date-time")


def _destination(app: Any, routed: Mapping[str, Any]) -> tuple[str, str, str]:
    """(list, exchange, routing key) as ``amqp.send_task_message`` picks them."""
    queue = routed.get("queue")
    exchange = routed.get("exchange")
    routing_key = routed.get("routing_key")
    if queue is None and exchange is None:
        queue = app.amqp.default_queue
    if isinstance(queue, str):
        queue = app.amqp.queues[queue]
    exchange_type = routed.get("exchange_type") or (
        queue.exchange.type if queue is not None and queue.exchange is not None else "direct"
    )
    if exchange_type != "direct":
        raise OptionError("exchange", f"a {exchange_type} exchange is not supported")
    exchange_name = getattr(exchange, "name", exchange) or ""
    if not exchange_name or not routing_key:
        if queue is None:
            raise OptionError("exchange", "needs a routing_key, or give a queue")
        return queue.name, "", queue.name
    bound = [
        q.name
        for q in app.amqp.queues.values()
        if q.exchange is not None and q.exchange.name == exchange_name
        and q.routing_key == routing_key
    ]  # fmt: skip
    if len(bound) != 1:
        found = "no queue" if not bound else f"{len(bound)} queues ({', '.join(bound)})"
        raise OptionError(
            "exchange",
            f"exchange {exchange_name!r} with routing key {routing_key!r} reaches {found} of "
            "the app's task_queues; shoal beat publishes to exactly one queue",
        )
    return bound[0], exchange_name, str(routing_key)


def resolve(
    app: Any,
    task: str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    options: Mapping[str, Any],
    *,
    app_zone: str,
) -> Publish:
    """The entry's publishing, as ``celery beat`` would do it; :class:`OptionError` names the
    option it cannot keep."""
    from celery.utils.saferepr import saferepr

    unknown = sorted(set(options) - SUPPORTED)
    if unknown:
        raise OptionError(
            unknown[0],
            f"is not supported by shoal beat (supported: {', '.join(sorted(SUPPORTED))})",
        )
    json_values("args", list(args))
    json_values("kwargs", dict(kwargs))
    task_type, opts = _task_options(app, task, args, kwargs, dict(options))
    serializer = opts.pop("serializer", None)
    if serializer not in (None, "json"):
        raise OptionError("serializer", f"{serializer!r}: shoal beat publishes JSON only")
    time_limit, soft_time_limit = opts.pop("time_limit", None), opts.pop("soft_time_limit", None)
    expires_s, expires_at = _expiry(opts.pop("expires", None), app_zone)
    extra: dict[str, Any] = {
        "ignore_result": opts.pop("ignore_result", None),
        "time_limit": time_limit,
        "soft_time_limit": soft_time_limit,
        "argsrepr": saferepr(list(args), app.amqp.argsrepr_maxsize) if args else "()",
        "kwargsrepr": saferepr(dict(kwargs), app.amqp.kwargsrepr_maxsize),
    }
    headers = opts.pop("headers", None) or {}
    if not isinstance(headers, Mapping):
        raise OptionError("headers", f"{headers!r} is not a mapping")
    json_values("headers", dict(headers))
    shadow = opts.pop("shadow", None)
    if shadow is not None:
        headers = {"shadow": shadow, **headers}
    try:
        routed = app.amqp.router.route(opts, task, list(args), dict(kwargs), task_type)
        list_name, exchange, routing_key = _destination(app, routed)
    except KeyError as exc:
        raise OptionError("queue", f"{exc.args[0]!r} is not one of the app's task_queues") from None
    priority = routed.get("priority")
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)
                                 or not 0 <= priority <= 255):  # fmt: skip
        raise OptionError("priority", f"{priority!r} is not a number from 0 to 255")
    extra.update(exchange=exchange, routing_key=routing_key, headers=dict(headers))
    sig = Signature(
        task=task,
        args=tuple(args),
        kwargs=dict(kwargs),
        queue=list_name,
        priority=priority,
        options=extra,
    )
    return Publish(sig, expires_s, expires_at)
