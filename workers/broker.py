"""A redis-py client on the broker, borrowed from kombu (so Sentinel, TLS and passwords work)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def message_redis(message: Any) -> Iterator[Any]:
    """The Redis client of the channel a kombu message came from (as kombu's own ack uses)."""
    with message.channel.conn_or_acquire() as client:
        yield client


@contextmanager
def app_redis(app: Any) -> Iterator[Any]:
    """A Redis client on ``app``'s broker, from the app's connection pool."""
    with app.pool.acquire(block=True) as connection:
        channel = connection.default_channel
        with channel.conn_or_acquire() as client:
            yield client
