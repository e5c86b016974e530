"""Per-queue dead-letter lists: nothing the platform cannot run is dropped silently.

An entry is one JSON document in the Redis list ``shoal:dlq:<queue>`` (newest first), with the
reason, the error, the task, timestamps and the original message (headers, properties, body
as text, or base64 when the body is binary). ``requeue`` rebuilds the kombu envelope and
LPUSHes it onto the queue's list for its priority, so the task runs again. The index set
``shoal:dlq-queues`` names the queues that have entries. The entry maths is pure; the Redis
store is one small class.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from contract import keys
from contract.priority import DEFAULT as DEFAULT_PRIORITIES
from contract.priority import Priorities


class DeadLetterReason(StrEnum):
    TASK_FAILED = "task_failed"
    """The task raised and had no retry left to try (no retry policy)."""
    RETRIES_EXHAUSTED = "retries_exhausted"
    NON_RETRYABLE = "non_retryable"
    TIME_LIMIT = "time_limit"
    WORKER_LOST = "worker_lost"
    """The pool process died and the message was not handed back (no reject_on_worker_lost)."""
    REJECTED = "rejected"
    """The task rejected its own message without requeueing it."""
    UNKNOWN_TASK = "unknown_task"
    INVALID_TASK = "invalid_task"
    CONTENT_DISALLOWED = "content_disallowed"
    """A serializer other than JSON (e.g. pickle)."""
    DECODE_ERROR = "decode_error"
    UNKNOWN_MESSAGE = "unknown_message"
    """Not a Celery task message at all."""


@dataclass(frozen=True)
class OriginalMessage:
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    content_type: str | None = None
    content_encoding: str | None = None


def encode_body(body: bytes) -> tuple[str, str]:
    """``(text, "utf-8")`` when the body is text, else ``(base64, "base64")``."""
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"


def decode_body(text: str, encoding: str) -> bytes:
    if encoding == "base64":
        return base64.b64decode(text)
    return text.encode("utf-8")


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def make_entry(
    *,
    reason: DeadLetterReason,
    error: str,
    message: OriginalMessage,
    queue: str,
    now: float,
    entry_id: str | None = None,
) -> dict[str, Any]:
    """The dead-letter record for ``message``; ``now`` is the epoch time of dead-lettering."""
    body, body_encoding = encode_body(message.body)
    headers = dict(message.headers)
    return {
        "id": entry_id or uuid.uuid4().hex,
        "reason": str(reason),
        "error": error,
        "task": headers.get("task"),
        "task_id": headers.get("id"),
        "queue": queue,
        "dead_lettered_at": now,
        "published_at": _number(headers.get("published_at")),
        "message": {
            "headers": headers,
            "properties": dict(message.properties),
            "content_type": message.content_type,
            "content_encoding": message.content_encoding,
            "body": body,
            "body_encoding": body_encoding,
        },
    }


def envelope(entry: dict[str, Any], *, delivery_tag: str) -> dict[str, Any]:
    """The kombu Redis envelope that re-publishes the entry's original message."""
    original = entry["message"]
    body = decode_body(original["body"], original.get("body_encoding", "utf-8"))
    properties = dict(original.get("properties") or {})
    properties["body_encoding"] = "base64"
    properties["delivery_tag"] = delivery_tag
    info = dict(properties.get("delivery_info") or {})
    info.setdefault("exchange", "")
    info.setdefault("routing_key", entry["queue"])
    properties["delivery_info"] = info
    return {
        "body": base64.b64encode(body).decode("ascii"),
        "content-encoding": original.get("content_encoding") or "utf-8",
        "content-type": original.get("content_type") or "application/json",
        "headers": dict(original.get("headers") or {}),
        "properties": properties,
    }


def parse_entry(raw: bytes | str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, binascii.Error):
        return None
    return value if isinstance(value, dict) else None


# KEYS: dlq list, index set, stats hash. ARGV: entry, max_len, queue.
_ADD = """
local n = redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[3])
local max = tonumber(ARGV[2])
if n > max then
  redis.call('LTRIM', KEYS[1], 0, max - 1)
  redis.call('HINCRBY', KEYS[3], 'dead_letters_dropped', n - max)
end
return n
"""

# KEYS: dlq list, target list, index set. ARGV: raw entry, envelope, queue.
_REQUEUE = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then
  return 0
end
redis.call('LPUSH', KEYS[2], ARGV[2])
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[3])
end
return 1
"""


class DeadLetterStore:
    """Dead letters in Redis. ``client`` is a redis-py client on the broker."""

    def __init__(self, client: Any, *, max_len: int = 10_000) -> None:
        self._client = client
        self.max_len = max_len
        self._add = client.register_script(_ADD)
        self._requeue = client.register_script(_REQUEUE)

    def add(self, entry: dict[str, Any]) -> int:
        queue = entry["queue"]
        raw = json.dumps(entry, separators=(",", ":"), default=str)
        keys_ = [keys.dead_letter(queue), keys.dead_letter_index(), keys.stats(queue)]
        return int(self._add(keys=keys_, args=[raw, self.max_len, queue]))

    def queues(self) -> list[str]:
        return sorted(q.decode() for q in self._client.smembers(keys.dead_letter_index()))

    def count(self, queue: str) -> int:
        return int(self._client.llen(keys.dead_letter(queue)))

    def raw_entries(self, queue: str) -> list[bytes]:
        return list(self._client.lrange(keys.dead_letter(queue), 0, -1))

    def entries(self, queue: str) -> list[dict[str, Any]]:
        return [e for e in map(parse_entry, self.raw_entries(queue)) if e is not None]

    def find(self, queue: str, ref: str) -> tuple[bytes, dict[str, Any]] | None:
        """An entry by list index (0 = newest) or by id (a unique prefix is enough)."""
        raws = self.raw_entries(queue)
        if ref.isdigit() and int(ref) < len(raws):
            entry = parse_entry(raws[int(ref)])
            return (raws[int(ref)], entry) if entry is not None else None
        found = [(raw, e) for raw in raws if (e := parse_entry(raw)) and e["id"].startswith(ref)]
        return found[0] if len(found) == 1 else None

    def requeue(
        self,
        queue: str,
        ref: str | None = None,
        *,
        priorities: Priorities = DEFAULT_PRIORITIES,
    ) -> int:
        """Re-publish one entry (``ref``) or all of them (oldest first); returns how many."""
        if ref is not None:
            one = self.find(queue, ref)
            chosen = [one] if one else []
        else:
            chosen = [
                (raw, e) for raw in reversed(self.raw_entries(queue)) if (e := parse_entry(raw))
            ]
        done = 0
        for raw, entry in chosen:
            message = envelope(entry, delivery_tag=str(uuid.uuid4()))
            priority = message["properties"].get("priority")
            target = priorities.list_for(entry["queue"], priority)
            done += int(
                self._requeue(
                    keys=[keys.dead_letter(queue), target, keys.dead_letter_index()],
                    args=[raw, json.dumps(message), queue],
                )
            )
        return done

    def purge(self, queue: str) -> int:
        pipe = self._client.pipeline(transaction=True)
        pipe.llen(keys.dead_letter(queue))
        pipe.delete(keys.dead_letter(queue))
        pipe.srem(keys.dead_letter_index(), queue)
        count, _, _ = pipe.execute()
        return int(count)
