"""Celery's consumer, extended so that no message is dropped silently.

Stock Celery logs and drops a message it cannot run. Here each such message first goes to its
queue's dead letters with a reason, then Celery's own handling runs (the message is acked or
rejected without requeue, the result backend learns of an unknown task), and the worker goes on.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker.consumer import Consumer
from kombu.exceptions import ContentDisallowed, DecodeError

from workers.deadletter import DeadLetterReason
from workers.request import dead_letter, describe

logger = logging.getLogger(__name__)


def invalid_reason(exc: BaseException) -> DeadLetterReason:
    if isinstance(exc, ContentDisallowed):
        return DeadLetterReason.CONTENT_DISALLOWED
    if isinstance(exc, DecodeError):
        return DeadLetterReason.DECODE_ERROR
    return DeadLetterReason.INVALID_TASK


def _requeued(message: Any) -> None:
    """The dead letter could not be written (Redis away): hand the message back instead."""
    message.reject_log_error(logger, (), requeue=True)


class ShoalConsumer(Consumer):  # type: ignore[misc]
    def on_unknown_message(self, body: Any, message: Any) -> Any:
        if not dead_letter(
            self.app, message, DeadLetterReason.UNKNOWN_MESSAGE, "not a task message"
        ):
            return _requeued(message)
        return super().on_unknown_message(body, message)

    def on_unknown_task(self, body: Any, message: Any, exc: BaseException) -> Any:
        name = (message.headers or {}).get("task")
        error = f"NotRegistered: no task named {name!r} in this worker"
        if not dead_letter(self.app, message, DeadLetterReason.UNKNOWN_TASK, error):
            return _requeued(message)
        return super().on_unknown_task(body, message, exc)

    def on_invalid_task(self, body: Any, message: Any, exc: BaseException) -> Any:
        if not dead_letter(self.app, message, invalid_reason(exc), describe(exc)):
            return _requeued(message)
        return super().on_invalid_task(body, message, exc)

    def on_decode_error(self, message: Any, exc: BaseException) -> Any:
        if not dead_letter(self.app, message, invalid_reason(exc), describe(exc)):
            return _requeued(message)
        return super().on_decode_error(message, exc)
