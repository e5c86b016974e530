"""The publisher kit's routing table, hook and header, without a broker."""

from __future__ import annotations

from typing import Any

import pytest
from celery import Celery
from celery.signals import before_task_publish

from workers.kit import Router, configure, match_route, stamp_published_at, transport_options

ROUTES = [("billing.invoices.*", "invoices"), ("billing.*", "billing"), ("*.send_email", "emails")]


@pytest.mark.parametrize(
    ("name", "queue"),
    [
        ("billing.invoices.render", "invoices"),
        ("billing.charge", "billing"),
        ("crm.send_email", "emails"),
        ("billingx.charge", None),
        ("Billing.charge", None),  # patterns are case-sensitive
        ("crm.sync", None),
    ],
)
def test_the_first_matching_pattern_wins(name: str, queue: str | None) -> None:
    assert match_route(name, ROUTES) == queue


def test_the_hook_routes_on_arguments_before_the_table() -> None:
    def hook(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], options: Any) -> str | None:
        if name.startswith("billing.") and kwargs.get("amount", 0) > 10_000:
            return "billing-large"
        return None

    router = Router(dict(ROUTES), hook)
    assert router("billing.charge", [], {"amount": 50_000}, {}) == {"queue": "billing-large"}
    assert router("billing.charge", [], {"amount": 5}, {}) == {"queue": "billing"}
    assert router("crm.sync", (), None, None) is None


def test_stamp_sets_published_at_and_tolerates_no_headers() -> None:
    headers: dict[str, Any] = {"task": "x", "published_at": 1.0}
    stamp_published_at(headers, 1234.5)
    assert headers == {"task": "x", "published_at": 1234.5}
    stamp_published_at(None, 1.0)


@pytest.mark.parametrize("steps", [[], [3, 6, 9], [0, 10]])
def test_transport_options_reject_priority_steps_without_zero_or_above_nine(
    steps: list[int],
) -> None:
    with pytest.raises(ValueError, match="priority_steps"):
        transport_options(priority_steps=steps, sep="\x06\x16", visibility_timeout_s=60)


def test_configure_sets_json_priorities_transport_options_and_routes() -> None:
    app = Celery("team", set_as_current=False)
    app.conf.broker_transport_options = {"socket_timeout": 5}
    configure(app, redis_url="redis://redis:6379/1", routes={"billing.*": "billing"})
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_default_priority == 0
    assert conf.broker_url == "redis://redis:6379/1"
    assert conf.result_backend == "redis://redis:6379/1"
    assert conf.broker_transport_options == {
        "socket_timeout": 5,
        "priority_steps": [0, 3, 6, 9],
        "sep": "\x06\x16",
        "visibility_timeout": 3600,
    }
    (router,) = conf.task_routes
    assert router("billing.charge", (), {}, {}) == {"queue": "billing"}
    assert app.amqp.router.route({}, "billing.charge")["queue"].name == "billing"
    receivers = [
        r for (key, _), r in before_task_publish.receivers if key == "shoal.kit.published_at"
    ]
    assert len(receivers) == 1


def test_configure_adds_its_routes_after_the_apps_own_which_win_a_tie() -> None:
    app = Celery("team", set_as_current=False)
    app.conf.task_routes = {"billing.charge": {"queue": "payments"}}
    configure(app, routes={"billing.*": "billing", "crm.*": "crm"})
    configure(app, routes={"billing.*": "billing2"})  # a second call replaces the kit's router
    route = app.amqp.router.route
    assert route({}, "billing.charge")["queue"].name == "payments"  # the app's own route
    assert route({}, "billing.refund")["queue"].name == "billing2"  # the kit's
    assert route({}, "crm.sync")["queue"].name == "celery"  # the first call's table is gone
    assert len(app.conf.task_routes) == 2


@pytest.mark.parametrize(
    "existing",
    [None, {"a": "q"}, ({"a": "q"},), ["proj.routers.route"], "proj.routers.route"],
)
def test_every_form_of_task_routes_keeps_the_apps_routes_first(existing: Any) -> None:
    app = Celery("team", set_as_current=False)
    app.conf.task_routes = existing
    configure(app, routes={"x.*": "x"})
    routes = app.conf.task_routes
    assert isinstance(routes[-1], Router)
    kept = (
        []
        if existing is None
        else list(existing)
        if isinstance(existing, list | tuple)
        else [existing]
    )
    assert list(routes[:-1]) == kept


def test_configure_keeps_the_apps_other_settings(caplog: pytest.LogCaptureFixture) -> None:
    app = Celery("team", set_as_current=False)
    app.conf.update(
        result_backend="redis://cache:6379/1",
        task_default_priority=5,
        timezone="Europe/Berlin",
        task_serializer="pickle",
    )
    configure(app, redis_url="redis://redis:6379/0")
    conf = app.conf
    assert conf.result_backend == "redis://cache:6379/1"
    assert conf.broker_url == "redis://redis:6379/0"
    assert (conf.task_default_priority, conf.timezone) == (5, "Europe/Berlin")
    assert conf.task_serializer == "json"
    assert "task_serializer 'pickle' replaced by 'json'" in caplog.text
    configure(app, default_priority=3)
    assert conf.task_default_priority == 3
