"""The platform task layer composed with the app's own task classes instead of replacing them.

A team's tasks are built on its app's task class: Django's ``DjangoTask`` (``delay_on_commit``),
a base class of its own (``on_failure``, ``after_return``), or Celery's ``Task``, and some name
an explicit ``base=``. Setting shoal's class as the app's ``task_cls`` would reach only the
tasks built from it later, and would drop what the team's class adds. So once the app's tasks
are registered, each task gets a class of its own that puts :class:`PlatformTaskMixin` before
the class it had: ``Shoal(PlatformTaskMixin, TheirClass)``. The task object stays the same one
(module attributes, ``app.tasks`` and proxies all see it); what the team's class defines keeps
working, and each platform method hands on to it with ``super()``.

The request class composes the same way: ``ShoalRequest`` (dead letters) before a team's own
``Request`` subclass.
"""

from __future__ import annotations

from typing import Any

from celery.worker.request import Request
from kombu.utils.imports import symbol_by_name

from workers.base import PlatformTaskMixin
from workers.request import ShoalRequest

_CLASSES: dict[type, type] = {}
"""The composed class of each team class (task or request), built once."""


def composed_request(request: Any) -> type:
    """``ShoalRequest`` over the team's request class (a dotted name or a class)."""
    theirs = symbol_by_name(request) if isinstance(request, str) else request  # type: ignore[no-untyped-call]
    if not isinstance(theirs, type) or theirs is Request or issubclass(theirs, ShoalRequest):
        return ShoalRequest
    if not issubclass(theirs, Request):
        raise TypeError(f"Request {request!r} is not a celery.worker.request.Request subclass")
    found = _CLASSES.get(theirs)
    if found is None:
        attrs = {"__module__": theirs.__module__, "__qualname__": theirs.__qualname__}
        found = _CLASSES[theirs] = type(theirs.__name__, (ShoalRequest, theirs), attrs)
    return found


def composed_class(cls: type) -> type:
    """``cls`` with the platform layer first in its method order (``cls`` itself if it has it)."""
    if issubclass(cls, PlatformTaskMixin):
        return cls
    found = _CLASSES.get(cls)
    if found is None:
        attrs = {
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
            "Request": composed_request(getattr(cls, "Request", Request)),
        }
        found = _CLASSES[cls] = type(cls.__name__, (PlatformTaskMixin, cls), attrs)
    return found


def compose_tasks(app: Any) -> list[str]:
    """Give every registered task of ``app`` the platform layer; the names of those changed."""
    changed = []
    for name, task in list(app.tasks.items()):
        if not isinstance(task, PlatformTaskMixin):
            task.__class__ = composed_class(type(task))
            changed.append(name)
    return changed
