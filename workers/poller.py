"""Kombu's Redis poller, taught the reliable fetch: each tick a consuming channel settles and
takes through its slots (:mod:`workers.fetcher`) instead of sending BRPOP; slot replies are read
when their sockets are readable. Fanout (``celery inspect`` / ``celery control``) is kombu's.

Under gevent the consumer waits in this poller's ``get``; a pipe wakes it when a task greenlet
(or the keeper thread) queues an operation, so an acknowledgement is sent at once and the freed
capacity is used. Under prefork the hub runs the tick after every batch of callbacks.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from kombu.transport import redis as _kombu_redis
from kombu.utils.eventio import READ

from workers.slots import SLOT_PREFIX

MultiChannelPoller: Any = _kombu_redis.MultiChannelPoller


class Poller(MultiChannelPoller):  # type: ignore[misc]
    hub_mode = False

    def __init__(self) -> None:
        super().__init__()
        self._wake_r: int | None = None
        self._wake_w: int | None = None
        self._wake_pending = False
        self._restored_at = float("-inf")

    # -- ticks --------------------------------------------------------------------------------
    def on_poll_start(self) -> None:
        self._update_brpop_polling()
        for channel in self._channels:
            start = getattr(channel, "shoal_poll_start", None)
            if start is not None:
                start(self)  # also without queues: what it owes (a drain after cancel)
            elif channel.active_queues and channel.qos.can_consume():
                self._register_BRPOP(channel)
            if channel.active_fanout_queues:
                self._register_LISTEN(channel)

    def on_readable(self, fileno: int) -> Any:
        chan_type = self._fd_to_chan.get(fileno)
        if chan_type is not None and chan_type[1].startswith(SLOT_PREFIX):
            chan, type_ = chan_type
            return chan.handlers[type_]()
        return super().on_readable(fileno)

    def handle_event(self, fileno: int, event: int) -> Any:
        if fileno == self._wake_r:
            self._drain_wake()
            return True, self
        return super().handle_event(fileno, event)

    def maybe_restore_messages(self) -> Any:
        """kombu's sweep of its own unacked hash, at most once per restore interval (10 s):
        kombu runs it on every empty poll of a gevent worker (every 2 s)."""
        interval = min((c.unacked_restore_interval for c in self._channels), default=10)
        now = time.monotonic()
        if now - self._restored_at < 0.9 * interval:  # the hub's timer may come a little early
            return None
        self._restored_at = now
        return super().maybe_restore_messages()

    def maybe_check_brpop_health(self) -> None:
        super().maybe_check_brpop_health()
        for channel in self._channels:
            check = getattr(channel, "shoal_check_health", None)
            if check is not None:
                check()

    # -- waking a consumer that waits in poll (gevent) ----------------------------------------
    def get(self, callback: Any, timeout: float | None = None) -> Any:
        if not self.hub_mode:
            self._ensure_waker()
        return super().get(callback, timeout)

    def _ensure_waker(self) -> None:
        if self._wake_r is not None:
            return
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.poller.register(self._wake_r, READ)

    @property
    def waker(self) -> Any:
        """:meth:`wake` when the consumer waits in this poller's ``get`` (gevent), else None."""
        return self.wake if self._wake_w is not None else None

    def wake(self) -> None:
        """Make the consumer's poll return (safe from any greenlet or thread)."""
        if self._wake_w is None or self._wake_pending:
            return
        self._wake_pending = True
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    def _drain_wake(self) -> None:
        self._wake_pending = False
        with contextlib.suppress(BlockingIOError, OSError):
            os.read(self._wake_r or -1, 4096)

    def close(self) -> None:
        super().close()
        for fd in (self._wake_r, self._wake_w):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._wake_r = self._wake_w = None
