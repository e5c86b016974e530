"""Acknowledgements through the held record: kombu's Redis QoS for messages the reliable fetch
delivered, kombu's own for any other (``unacked`` hash, visibility timeout).

A message the fetcher delivered has a :class:`~workers.holding.Location` here, keyed by its
delivery tag. Ack, reject and requeue queue one operation on the process's holding (sent with the
next fetch, or by the keeper), no round trip of their own. When the channel closes (a lost
connection, or shutdown), a delivered message whose task is not running goes back to the front of
its list (marked redelivered, as kombu marks a restored one); one whose task runs stays held until
its acknowledgement. Messages in kombu's ``unacked`` hash (stock workers, an older shoal) are
restored by kombu's visibility timeout as before.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis as _kombu_redis
from kombu.transport import virtual as _virtual
from kombu.utils import encoding as _encoding
from kombu.utils import json as _json

from workers.holding import Location

log = logging.getLogger("shoal.delivery")

# kombu's own JSON (its types) and text conversion, as its BRPOP path reads a message.
loads: Any = _json.loads
dumps: Any = _json.dumps
bytes_to_str: Any = _encoding.bytes_to_str

RedisQoS: Any = _kombu_redis.QoS
VirtualQoS: Any = _virtual.QoS


def running_tags() -> set[str]:
    """Delivery tags of the tasks this worker runs now (Celery's active requests)."""
    from celery.worker import state

    tags = set()
    for request in list(state.active_requests):
        tag = getattr(getattr(request, "message", None), "delivery_tag", None)
        if tag:
            tags.add(tag)
    return tags


def redelivered(raw: bytes) -> bytes:
    """The message with kombu's ``redelivered`` marks, as kombu's restore writes them."""
    payload = loads(bytes_to_str(raw))
    try:
        payload["headers"]["redelivered"] = True
        payload["properties"]["delivery_info"]["redelivered"] = True
    except (KeyError, TypeError):
        return raw
    return str(dumps(payload)).encode()


class QoS(RedisQoS):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.locations: dict[str, Location] = {}

    def append(self, message: Any, delivery_tag: str) -> None:
        if delivery_tag in self.locations:
            VirtualQoS.append(self, message, delivery_tag)  # already in the held record
        else:
            super().append(message, delivery_tag)

    def ack(self, delivery_tag: str) -> None:
        loc = self.locations.pop(delivery_tag, None)
        if loc is None:
            super().ack(delivery_tag)
            return
        self.channel.holding.ack(loc)
        VirtualQoS.ack(self, delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        loc = self.locations.pop(delivery_tag, None)
        if loc is None:
            super().reject(delivery_tag, requeue=requeue)
            return
        if requeue:
            self.channel.holding.give_back(loc, redelivered(loc.raw))
        else:
            self.channel.holding.ack(loc)
        VirtualQoS.ack(self, delivery_tag)

    def restore_visible(self, *args: Any, **kwargs: Any) -> Any:
        """kombu's sweep of its unacked hash, skipped (one ZCARD) when the hash is empty, as it
        is unless stock workers or an older shoal share the queues."""
        with self.channel.conn_or_acquire() as client:
            if not client.zcard(self.unacked_index_key):
                return None
        return super().restore_visible(*args, **kwargs)

    def restore_unacked(self, client: Any = None) -> None:
        """The channel closes: hand back what is not running; kombu restores the rest."""
        holding = self.channel.holding
        running = running_tags() if self.locations else set()
        legacy = []
        kept = 0
        for tag in list(self._delivered):
            loc = self.locations.get(tag)
            if loc is None:
                legacy.append(tag)
            elif tag in running:
                kept += 1  # its acknowledgement comes when the task ends
            else:
                del self.locations[tag]
                holding.give_back(loc, redelivered(loc.raw))
        if kept:
            log.info("%d running task(s) stay held until they finish", kept)
        if legacy:
            with self.channel.conn_or_acquire(client) as conn:
                for tag in legacy:
                    self.restore_by_tag(tag, client=conn)
        self._delivered.clear()
