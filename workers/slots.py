"""A slot: one Redis connection of a consuming channel with at most one command outstanding.

The channel sends a command on a slot and goes on; the event loop (the hub under prefork, the
poll in ``drain_events`` under gevent) reads the reply when the socket is readable, exactly as
kombu reads its BRPOP. The fetch script runs on one slot; each list's blocking ``BLMOVE`` waits
on a slot of its own (one command cannot wait on several lists and move atomically). The
connections come from the channel's asynchronous pool, so Sentinel, TLS and passwords work as
for kombu, and a disconnect removes the socket from the poller the way kombu's does.
"""

from __future__ import annotations

import time
from typing import Any

SLOT_PREFIX = "shoal-"
"""Poller registrations of slots are typed ``shoal-<name>``."""


class Slot:
    """One connection, one command at a time; ``pending`` is what the caller needs to know
    about the outstanding command (None when idle)."""

    def __init__(self, channel: Any, name: str) -> None:
        self.channel = channel
        self.name = name
        self.type = SLOT_PREFIX + name
        self.client: Any = None
        self.pending: Any = None
        self.sent_at: float | None = None
        self.command = ""

    @property
    def busy(self) -> bool:
        return self.sent_at is not None

    def _ensure_registered(self, poller: Any) -> None:
        client = self.client
        if client is None:
            client = self.channel._create_client(asynchronous=True)
            client.connection = client.connection_pool.get_connection()
            self.client = client
        ident = (self.channel, client, self.type)
        if client.connection._sock is None or ident not in poller._chan_to_sock:
            poller._register(self.channel, client, self.type)

    def send(self, poller: Any, pending: Any, *args: Any) -> None:
        """Send one command; its reply is read by :meth:`read` when the socket is readable."""
        self._ensure_registered(poller)
        self.command = str(args[0])
        self.pending = pending
        self.sent_at = time.monotonic()
        try:
            self.client.connection.send_command(*args)
        except BaseException:
            self.disconnect()
            raise

    def read(self) -> Any:
        """The reply of the outstanding command (errors replied by Redis are raised as
        ``ResponseError``; a broken connection raises a connection error)."""
        try:
            return self.client.parse_response(self.client.connection, self.command)
        except self.channel.connection_errors:
            self.disconnect()
            raise
        finally:
            self.sent_at = None

    def overdue(self, limit_s: float) -> bool:
        return self.sent_at is not None and time.monotonic() - self.sent_at > limit_s

    def disconnect(self) -> None:
        """Drop the connection (the poller forgets its socket); the next send reconnects."""
        self.sent_at = None
        client = self.client
        if client is not None and client.connection is not None:
            client.connection.disconnect()

    def close(self) -> None:
        self.disconnect()
        client, self.client = self.client, None
        if client is not None and client.connection is not None:
            client.connection_pool.release(client.connection)
