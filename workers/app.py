"""The Celery app factory: one place that turns :class:`WorkerSettings` into Celery config."""

from __future__ import annotations

from typing import Any

from celery import Celery

from contract.connection import ssl_options
from contract.pools import Pool
from workers.settings import WorkerSettings
from workers.transport import transport_for

BUILTIN_TASKS = "workers.tasks"
PLATFORM_TASK = "workers.base:PlatformTask"
RESULT_RETRY_POLICY = {
    "max_retries": None,
    "timeout": None,
    "interval_start": 0.1,
    "interval_step": 0.5,
    "interval_max": 2.0,
}
"""The Redis result backend's retries on connection errors: forever, at most 2 s apart."""


def celery_config(settings: WorkerSettings) -> dict[str, Any]:
    """The Celery settings shoal's workers run with; each default is a platform decision."""
    transport_options = {
        "visibility_timeout": int(settings.visibility_timeout_s),
        "priority_steps": list(settings.priority_steps),
        "sep": settings.priority_sep,
        # Messages in kombu's own unacked hash (stock workers, an older shoal) are restored
        # after the visibility timeout; swept every restore interval (10 s), not every 10th.
        "unacked_restore_throttle": 1,
        # The reliable fetch (workers.fetcher): this process's record, heartbeat and parking.
        "shoal_worker_id": settings.worker_id,
        "shoal_liveness_timeout_s": settings.liveness_timeout_s,
        "shoal_park_threshold_s": settings.park_threshold_s,
    }
    conf: dict[str, Any] = {
        "broker_url": settings.broker_url,
        "broker_transport": transport_for(settings.broker_url),
        "broker_transport_options": transport_options,
        "broker_connection_retry_on_startup": True,
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,
        "result_backend": settings.backend_url,
        # A result write that fails because Redis is away is retried until it succeeds (or the
        # worker stops): a task whose body completed is never recorded as FAILURE for it.
        "result_backend_transport_options": {"retry_policy": RESULT_RETRY_POLICY},
        "result_backend_always_retry": True,
        "result_backend_max_retries": float("inf"),
        "result_expires": settings.result_expires_s,
        "result_extended": True,
        # JSON only: a pickle message is refused (and dead-lettered by the consumer).
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        # At-least-once: ack after the task ran, and hand the task back if the worker dies.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_soft_time_limit": settings.task_soft_time_limit_s,
        "task_time_limit": settings.task_time_limit_s,
        "worker_prefetch_multiplier": settings.effective_prefetch_multiplier,
        "worker_soft_shutdown_timeout": settings.drain_timeout_s,
        "worker_enable_soft_shutdown_on_idle": True,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_default_queue": settings.queues[0],
        "task_create_missing_queues": True,
        "imports": (BUILTIN_TASKS, *settings.imports),
        "task_cls": PLATFORM_TASK,
        "worker_consumer": "workers.consumer:ShoalConsumer",
        "worker_hijack_root_logger": True,
        "worker_redirect_stdouts": False,
        "worker_send_task_events": False,
        "task_send_sent_event": False,
    }
    if settings.pool is Pool.GEVENT:
        # Every greenlet acks on its own connection (acks late): kombu's default pool of 10
        # runs dry at a few hundred greenlets and acks fail (celery/celery#1350).
        transport_options["max_connections"] = settings.effective_concurrency + 20
        # Celery keeps the backend in a threading.local, which gevent makes greenlet-local:
        # without this a new Redis backend is built for every task (celery/celery#7960).
        conf["result_backend_thread_safe"] = True
    if settings.pool is Pool.PREFORK and settings.max_memory_per_child_kb:
        conf["worker_max_memory_per_child"] = settings.max_memory_per_child_kb
    tls = ssl_options(settings.broker_url)
    if tls:
        conf["broker_use_ssl"] = tls
    backend_tls = ssl_options(settings.backend_url)
    if backend_tls:
        conf["redis_backend_use_ssl"] = backend_tls
    return conf


def create_app(settings: WorkerSettings, *, install_hooks: bool = True) -> Celery:
    """The worker's Celery app; ``install_hooks`` wires metrics, health and accounting."""
    # task_cls is a constructor argument (Celery ignores it as a config key).
    app = Celery("shoal", set_as_current=True, task_cls=PLATFORM_TASK)
    app.conf.update(celery_config(settings))
    app.shoal_settings = settings  # type: ignore[attr-defined]
    if install_hooks:
        from workers import hooks

        hooks.install(app, settings)
    return app
