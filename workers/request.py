"""The worker-side request (``PlatformTask.Request``): final failures go to the dead letters.

It runs in the process that holds the message (the pool's parent under prefork), so it sees
the original kombu message and also hard time limits and lost pool processes. A message is
dead-lettered right before Celery acknowledges (or rejects without requeue) a failed task,
so a crash in between leaves it in Redis rather than losing it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from billiard.einfo import ExceptionWithTraceback
from billiard.exceptions import WorkerLostError
from celery.exceptions import (
    Ignore,
    MaxRetriesExceededError,
    Reject,
    Retry,
    SoftTimeLimitExceeded,
    Terminated,
    TimeLimitExceeded,
)
from celery.worker.request import Request

from workers.base import NonRetryable
from workers.deadletter import DeadLetterReason, DeadLetterStore, OriginalMessage, make_entry

log = logging.getLogger(__name__)
ERROR_MAX_CHARS = 2000


def failure_reason(
    exc: BaseException, *, retries: int, max_retries: int | None
) -> DeadLetterReason | None:
    """Why a failed task ends for good, or None when the message is not finished with."""
    if isinstance(exc, Retry | Ignore | Terminated):
        return None
    if isinstance(exc, Reject):
        return None if exc.requeue else DeadLetterReason.REJECTED
    if isinstance(exc, NonRetryable):
        return DeadLetterReason.NON_RETRYABLE
    if isinstance(exc, TimeLimitExceeded | SoftTimeLimitExceeded):
        return DeadLetterReason.TIME_LIMIT
    if isinstance(exc, WorkerLostError):
        return DeadLetterReason.WORKER_LOST
    exhausted = max_retries is not None and retries > 0 and retries >= max_retries
    if isinstance(exc, MaxRetriesExceededError) or exhausted:
        return DeadLetterReason.RETRIES_EXHAUSTED
    return DeadLetterReason.TASK_FAILED


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS]


def original_message(message: Any) -> OriginalMessage:
    body = message.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    return OriginalMessage(
        body=body or b"",
        headers=dict(message.headers or {}),
        properties=dict(message.properties or {}),
        content_type=message.content_type,
        content_encoding=message.content_encoding,
    )


def message_queue(message: Any, fallback: str) -> str:
    info = message.delivery_info or {}
    return str(info.get("routing_key") or fallback)


def dead_letter(app: Any, message: Any, reason: DeadLetterReason, error: str) -> bool:
    """Write ``message`` to its queue's dead letters; False when it could not (logged; the
    caller hands the message back instead of acknowledging it, so it is never dropped)."""
    from workers.broker import message_redis

    settings = getattr(app, "shoal_settings", None)
    max_len = settings.dead_letter_max_len if settings else 10_000
    queue = message_queue(message, app.conf.task_default_queue or "celery")
    try:
        entry = make_entry(
            reason=reason,
            error=error,
            message=original_message(message),
            queue=queue,
            now=time.time(),
        )
        with message_redis(message) as client:
            DeadLetterStore(client, max_len=max_len).add(entry)
    except Exception:
        log.exception(
            "could not dead-letter a message of queue %s (%s): it goes back to its queue",
            queue,
            reason,
        )
        return False
    from workers import metrics

    metrics.record_dead_lettered(queue, entry["task"] or "unknown", str(reason))
    log.warning(
        "dead-lettered %s[%s] from %s: %s (%s)",
        entry["task"],
        entry["task_id"],
        queue,
        reason,
        error,
    )
    return True


class ShoalRequest(Request):  # type: ignore[misc]
    _shoal_failure: tuple[DeadLetterReason, str] | None = None
    _shoal_dead_lettered: bool = False

    def _dead_letter_now(self) -> bool:
        """Dead-letter a final failure; False when the write failed (Redis away)."""
        if self._shoal_failure is None or self._shoal_dead_lettered:
            return True
        self._shoal_dead_lettered = True
        reason, error = self._shoal_failure
        return dead_letter(self._app, self.message, reason, error)

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> Any:
        exc = exc_info.exception
        if isinstance(exc, ExceptionWithTraceback):
            exc = exc.exc
        retries = int(self.request_dict.get("retries") or 0)
        reason = failure_reason(exc, retries=retries, max_retries=self.task.max_retries)
        if reason is DeadLetterReason.WORKER_LOST and self._succeeded_before_loss():
            reason = None  # Celery acknowledges it as a success
        self._shoal_failure = (reason, describe(exc)) if reason else None
        try:
            return super().on_failure(
                exc_info, send_failed_event=send_failed_event, return_ok=return_ok
            )
        finally:
            if not self.task.acks_late:  # acknowledged when it started: nothing requeues it
                self._dead_letter_now()
            self._shoal_failure = None

    def _succeeded_before_loss(self) -> bool:
        check = getattr(self, "_success_was_stored", None)
        try:
            return bool(check()) if check is not None else False
        except Exception:
            return False

    def on_timeout(self, soft: bool, timeout: float) -> Any:
        if soft:
            return super().on_timeout(soft, timeout)
        error = f"TimeLimitExceeded: hard time limit ({timeout}s) exceeded"
        self._shoal_failure = (DeadLetterReason.TIME_LIMIT, error)
        try:
            return super().on_timeout(soft, timeout)
        finally:
            if not self.task.acks_late:
                self._dead_letter_now()
            self._shoal_failure = None

    def acknowledge(self) -> None:
        if not self.acknowledged and not self._dead_letter_now():
            super().reject(requeue=True)  # runs again, dead-lettered once Redis answers
            return
        super().acknowledge()

    def reject(self, requeue: bool = False) -> None:
        if not requeue and not self.acknowledged and not self._dead_letter_now():
            requeue = True
        super().reject(requeue=requeue)
