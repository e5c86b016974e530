"""A plain Celery app, the baseline shoal's worker is compared with.

Run as ``celery -A bench.plain_app worker -P prefork -c 2 -Q bench``. The broker URL comes from
``BENCH_BROKER_URL``. ``BENCH_PLAIN_MODE`` picks the configuration:

- ``default`` (the baseline of the 0.9 threshold): Celery's own defaults, only the broker set.
  That is JSON, acks early (on receipt), prefetch multiplier 4, no result backend, no time
  limits, no memory limit per child.
- ``matched``: shoal's exact Celery configuration (``workers.app.celery_config``: acks late,
  reject on worker lost, prefetch 1, time limits, memory limit per child, result backend) but
  stock Celery code: no ``PlatformTask`` base, no ``ShoalConsumer``, no priority transport and
  no hooks (metrics, health, in-flight accounting). This isolates the cost of shoal's own code.
  ``BENCH_PLAIN_POOL=gevent`` takes shoal's gevent settings instead (prefetch 4).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

SHOAL_ONLY_KEYS = ("task_cls", "worker_consumer", "broker_transport", "imports")


def _config(mode: str, url: str) -> dict[str, Any]:
    if mode == "default":
        return {"broker_url": url}
    if mode == "matched":
        from workers.app import celery_config
        from workers.settings import Pool, WorkerSettings

        pool = Pool(os.environ.get("BENCH_PLAIN_POOL", "prefork"))
        settings = WorkerSettings(redis_url=url, queues=("bench",), pool=pool)
        conf = celery_config(settings)
        for key in SHOAL_ONLY_KEYS:
            conf.pop(key, None)
        return conf
    raise SystemExit(f"BENCH_PLAIN_MODE: expected 'default' or 'matched', got {mode!r}")


def _broker_url() -> str:
    url = os.environ.get("BENCH_BROKER_URL")
    if not url:
        raise SystemExit("BENCH_BROKER_URL: set it to the benchmark's private Redis URL")
    return url


app = Celery("plain")
app.conf.update(_config(os.environ.get("BENCH_PLAIN_MODE", "default"), _broker_url()))


@app.task(name="shoal.noop")
def noop(*args: Any, **kwargs: Any) -> None:
    """The same no-op as shoal's built-in ``shoal.noop``."""


@app.task(name="shoal.io_wait")
def io_wait(seconds: float = 0.2) -> float:
    import time

    time.sleep(seconds)
    return seconds
