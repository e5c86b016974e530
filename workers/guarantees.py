"""What the platform decides on every worker, whatever a team's app says, and why: the reasons
printed in the WARNING line of each overridden setting (:mod:`workers.layers`), listed for
teams in docs/your-app.md."""

from __future__ import annotations

JSON = "JSON only, a pickle message is dead-lettered and never unpickled"
AT_LEAST_ONCE = "at least once, a task is acknowledged after it ran so a lost worker's runs again"
DRAIN = "on SIGTERM running tasks get SHOAL_DRAIN_TIMEOUT_S to finish"
RECONNECT = "Redis going away is retried with backoff, never a crash loop"

GUARANTEES: dict[str, str] = {
    "accept_content": JSON,
    "result_accept_content": JSON,
    "task_serializer": JSON,
    "result_serializer": JSON,
    "task_acks_late": AT_LEAST_ONCE,
    "task_reject_on_worker_lost": AT_LEAST_ONCE,
    "worker_prefetch_multiplier": "a busy process holds no task another replica could run "
    "(prefork 1, gevent 4 per slot; SHOAL_PREFETCH_MULTIPLIER)",
    "broker_transport": "shoal's Redis transport, priority 9 the most urgent",
    "worker_consumer": "shoal's consumer dead-letters what it cannot run",
    "worker_soft_shutdown_timeout": DRAIN,
    "worker_enable_soft_shutdown_on_idle": DRAIN,
    "worker_cancel_long_running_tasks_on_connection_loss": DRAIN,
    "broker_connection_retry_on_startup": RECONNECT,
    "broker_connection_retry": RECONNECT,
    "broker_connection_max_retries": RECONNECT,
    "task_create_missing_queues": "a worker consumes its queues by name",
    "result_backend_thread_safe": "one result backend per process under gevent (celery#7960)",
}
"""Celery settings the platform decides (with the reason given in the WARNING line)."""

TRANSPORT_WHY: dict[str, str] = {
    "visibility_timeout": "one value for every worker on this Redis, above the hard time limit "
    "(SHOAL_VISIBILITY_TIMEOUT_S); kombu's restore sweep uses the smallest",
    "priority_steps": "the priority lists every shoal part reads (SHOAL_PRIORITY_STEPS)",
    "sep": "the priority lists every shoal part reads (SHOAL_PRIORITY_SEP)",
    "unacked_restore_throttle": "a dead worker's tasks are restored within seconds",
    "max_connections": "under gevent every greenlet acks on its own connection (celery#1350)",
}
"""``broker_transport_options`` keys the platform decides; the app's other keys are kept."""

FROM_ENVIRONMENT: dict[str, str] = {
    "broker_url": "redis_url",
    "result_backend": "result_backend_url",
    "task_time_limit": "task_time_limit_s",
    "task_soft_time_limit": "task_soft_time_limit_s",
    "result_expires": "result_expires_s",
    "worker_max_memory_per_child": "max_memory_per_child_kb",
    "worker_concurrency": "concurrency",
}
"""Celery settings a ``SHOAL_*`` variable overrides when set explicitly -> its settings field.
(The queues a worker consumes come from ``SHOAL_QUEUES``, else the app's default queue.)"""
