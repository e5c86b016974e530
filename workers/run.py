"""Start a Celery worker from validated settings."""

from __future__ import annotations

from celery import Celery

from workers.app import create_app
from workers.settings import WorkerSettings


def worker_argv(settings: WorkerSettings) -> list[str]:
    """The arguments for Celery's own worker command."""
    argv = [
        "worker",
        "--queues",
        ",".join(settings.queues),
        "--pool",
        settings.pool.value,
        "--loglevel",
        settings.log_level,
        "--hostname",
        f"{settings.worker_id}.{settings.pool.value}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    if settings.autoscale:
        high, low = settings.autoscale
        argv += ["--autoscale", f"{high},{low}"]
    else:
        argv += ["--concurrency", str(settings.effective_concurrency)]
    return argv


def run_worker(settings: WorkerSettings, app: Celery | None = None) -> int:
    """Celery's worker on ``app`` (a team's, the platform layer already on it), or on the
    platform's own app built from ``settings``."""
    import time

    from workers.preflight import wait_for_redis

    wait_for_redis(settings.broker_url, sleep=time.sleep)
    if app is None:
        app = create_app(settings)
    app.worker_main(worker_argv(settings))
    return 0
