"""The one place where the worker's concerns are hooked into Celery's signals and bootsteps."""

from __future__ import annotations

from celery import Celery

from workers.settings import WorkerSettings


def install(app: Celery, settings: WorkerSettings) -> None:
    """Wire each concern (metrics, health, in-flight accounting, Sentry) into ``app``."""
