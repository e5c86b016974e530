"""Under gevent, what the worker owes Redis goes out at once, from a greenlet of its own.

A prefork worker's acknowledgements come back to the hub, which sends them with its next fetch
a tick later. A gevent worker's come from its task greenlets while the consumer greenlet may be
busy handing out a batch of a hundred messages; queued behind it, a finished task would wait
tens of milliseconds to be settled, and a kill in that window would run it twice. This greenlet
is woken by every operation queued and sends all that is owed in one script call (one round
trip for however many finished meanwhile), on a connection of the channel's pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from workers.holding import Holding, send_owed

log = logging.getLogger("shoal.delivery")

RETRY_S = 1.0


class GreenFlusher:
    def __init__(self, holding: Holding, client_factory: Callable[[], Any]) -> None:
        import gevent
        from gevent.event import Event

        self.holding = holding
        self._client_factory = client_factory
        self._client: Any = None
        self._event = Event()
        self._greenlet = gevent.spawn(self._run)

    def wake(self) -> None:
        self._event.set()

    def _run(self) -> None:
        import gevent

        while True:
            self._event.wait()
            self._event.clear()
            try:
                if self._client is None:
                    self._client = self._client_factory()
                send_owed(self._client, self.holding)
            except Exception as exc:  # the keeper retries too; try again in a moment
                log.debug("sending what is owed failed (%s); retrying", exc)
                self._client = None
                gevent.sleep(RETRY_S)
                self._event.set()


def start(holding: Holding, client_factory: Callable[[], Any]) -> GreenFlusher:
    flusher = GreenFlusher(holding, client_factory)
    holding.flush_soon = flusher.wake
    return flusher
