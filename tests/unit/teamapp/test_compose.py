"""The platform task layer composes with the app's own task class: the team's methods, Django's
``delay_on_commit`` and a team's own request class keep working; the platform's come first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery, Task
from celery.contrib.django.task import DjangoTask
from celery.worker.request import Request

from workers.base import NonRetryable, PlatformTask, PlatformTaskMixin
from workers.compose import compose_tasks, composed_class, composed_request
from workers.request import ShoalRequest


class TeamRequest(Request):  # type: ignore[misc]
    seen: list[str] = []

    def on_failure(self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False):  # type: ignore[no-untyped-def]
        TeamRequest.seen.append("team request")
        return super().on_failure(exc_info, send_failed_event, return_ok)


class TeamBase(Task):  # type: ignore[misc]
    Request = TeamRequest
    calls: list[str] = []

    def on_failure(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        TeamBase.calls.append("on_failure")

    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        TeamBase.calls.append("before_start")

    def audit(self) -> str:
        return "audited"


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("team", set_as_current=False, task_cls=DjangoTask)
    try:
        yield app
    finally:
        app.close()


def test_each_task_keeps_its_class_and_gets_the_layer_first(app: Celery) -> None:
    @app.task(shared=False, name="t.plain")
    def plain() -> None: ...

    @app.task(shared=False, name="t.based", base=TeamBase, bind=True)
    def based(self: Any) -> str:
        return str(self.audit())

    before = {name: app.tasks[name] for name in ("t.plain", "t.based")}
    changed = compose_tasks(app)
    assert {"t.plain", "t.based"} <= set(changed)
    for name, task in before.items():
        assert app.tasks[name] is task  # the same object: module attributes see the layer
        assert isinstance(task, PlatformTaskMixin)
        assert type(task).__mro__[1] is PlatformTaskMixin
    django_task = app.tasks["t.plain"]
    assert isinstance(django_task, DjangoTask) and callable(django_task.delay_on_commit)
    team_task = app.tasks["t.based"]
    assert isinstance(team_task, TeamBase) and team_task.audit() == "audited"
    assert team_task.run() == "audited"
    assert compose_tasks(app) == []  # once is enough


def test_platform_methods_hand_on_to_the_teams(app: Celery) -> None:
    @app.task(shared=False, name="t.based", base=TeamBase)
    def based() -> None: ...

    compose_tasks(app)
    TeamBase.calls.clear()
    app.tasks["t.based"].before_start("id", (), {})
    assert TeamBase.calls == ["before_start"]


def test_non_retryable_ends_a_retry_of_a_team_task(app: Celery) -> None:
    @app.task(shared=False, name="t.based", base=TeamBase, bind=True)
    def based(self: Any) -> None: ...

    compose_tasks(app)
    with pytest.raises(NonRetryable):
        app.tasks["t.based"].retry(exc=NonRetryable("no"))


def test_the_request_class_composes_too() -> None:
    assert composed_request("celery.worker.request:Request") is ShoalRequest
    assert composed_request(ShoalRequest) is ShoalRequest
    mixed = composed_request(TeamRequest)
    assert mixed.__mro__[:3] == (mixed, ShoalRequest, TeamRequest)
    assert composed_class(TeamBase).Request is mixed
    with pytest.raises(TypeError, match=r"not a celery\.worker\.request\.Request subclass"):
        composed_request(dict)


def test_the_platforms_own_class_is_left_alone() -> None:
    assert composed_class(PlatformTask) is PlatformTask
    assert composed_class(TeamBase) is composed_class(TeamBase)  # one class per team class
