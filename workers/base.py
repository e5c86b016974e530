"""The platform task base class."""

from __future__ import annotations

from celery import Task


class PlatformTask(Task):  # type: ignore[misc]
    pass
