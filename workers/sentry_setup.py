"""Sentry: with ``SHOAL_SENTRY_DSN`` set, sentry-sdk with its Celery integration; else nothing.

:func:`init` runs in the worker's main process before the pool starts, so prefork children
inherit the initialised SDK (sentry-sdk restarts its sending thread after a fork). Without a
DSN this module imports nothing from sentry_sdk.
"""

from __future__ import annotations

import logging

from workers.redact import mask_url
from workers.settings import WorkerSettings

log = logging.getLogger("shoal.sentry")


def init(settings: WorkerSettings) -> bool:
    """Start sentry-sdk when a DSN is configured; returns whether it did.

    A team's app that set up Sentry itself (``sentry_sdk.init`` in its Django settings) keeps
    its own: the platform's DSN is not used, and a line says so."""
    if not settings.sentry_dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration

    client = sentry_sdk.get_client()
    if client.is_active() and client.dsn:
        log.warning("sentry: the app set up Sentry itself and keeps it; SHOAL_SENTRY_DSN unused")
        return False

    try:
        sentry_sdk.init(
            dsn=settings.sentry_dsn,
            integrations=[CeleryIntegration()],
            server_name=settings.worker_id,
            send_default_pii=False,
        )
    except Exception as exc:  # sentry_sdk's BadDsn and friends
        raise ValueError(f"SHOAL_SENTRY_DSN: not a usable Sentry DSN ({exc})") from None
    sentry_sdk.set_tag("shoal.queues", ",".join(settings.queues))
    sentry_sdk.set_tag("shoal.pool", settings.pool.value)
    log.info("sentry: reporting to %s", mask_url(settings.sentry_dsn))
    return True


def flush(timeout_s: float = 2.0) -> None:
    """Send what is queued before the process exits (a no-op when Sentry is off)."""
    import sys

    if "sentry_sdk" in sys.modules:
        import sentry_sdk

        sentry_sdk.flush(timeout=timeout_s)
