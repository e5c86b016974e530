"""Dead-letter entries: what they hold, and the envelope that requeues them."""

from __future__ import annotations

import base64
import json

import pytest
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
from hypothesis import given
from hypothesis import strategies as st

from workers.base import NonRetryable
from workers.deadletter import (
    DeadLetterReason,
    OriginalMessage,
    decode_body,
    encode_body,
    envelope,
    make_entry,
    parse_entry,
)
from workers.dlq_cmd import entry_line
from workers.request import failure_reason

MESSAGE = OriginalMessage(
    body=b'[[1, 2], {}, {"callbacks": null}]',
    headers={"task": "billing.charge", "id": "t-1", "retries": 3, "published_at": 100.5},
    properties={
        "priority": 9,
        "delivery_tag": "old-tag",
        "body_encoding": "base64",
        "delivery_info": {"exchange": "", "routing_key": "billing"},
    },
    content_type="application/json",
    content_encoding="utf-8",
)


def test_an_entry_names_reason_error_task_queue_and_times() -> None:
    entry = make_entry(
        reason=DeadLetterReason.RETRIES_EXHAUSTED,
        error="RuntimeError: down",
        message=MESSAGE,
        queue="billing",
        now=200.0,
        entry_id="e1",
    )
    assert {k: v for k, v in entry.items() if k != "message"} == {
        "id": "e1",
        "reason": "retries_exhausted",
        "error": "RuntimeError: down",
        "task": "billing.charge",
        "task_id": "t-1",
        "queue": "billing",
        "dead_lettered_at": 200.0,
        "published_at": 100.5,
    }
    assert entry["message"]["body"] == '[[1, 2], {}, {"callbacks": null}]'
    assert entry["message"]["body_encoding"] == "utf-8"
    assert json.loads(json.dumps(entry)) == entry


def test_a_binary_body_is_kept_as_base64() -> None:
    message = OriginalMessage(body=b"\x80\x04\x95pickle", content_type="application/x-pickle")
    entry = make_entry(
        reason=DeadLetterReason.CONTENT_DISALLOWED, error="x", message=message, queue="q", now=1.0
    )
    assert entry["message"]["body_encoding"] == "base64"
    assert base64.b64decode(entry["message"]["body"]) == b"\x80\x04\x95pickle"
    assert entry["task"] is None and entry["published_at"] is None


def test_the_requeue_envelope_is_the_original_message_with_a_new_delivery_tag() -> None:
    entry = make_entry(
        reason=DeadLetterReason.TASK_FAILED, error="e", message=MESSAGE, queue="billing", now=1.0
    )
    env = envelope(entry, delivery_tag="new-tag")
    assert base64.b64decode(env["body"]) == MESSAGE.body
    assert env["headers"] == MESSAGE.headers
    assert env["content-type"] == "application/json"
    assert env["properties"]["delivery_tag"] == "new-tag"
    assert env["properties"]["body_encoding"] == "base64"
    assert env["properties"]["priority"] == 9
    assert env["properties"]["delivery_info"] == {"exchange": "", "routing_key": "billing"}


@given(st.binary(max_size=300))
def test_any_body_survives_encoding(body: bytes) -> None:
    text, encoding = encode_body(body)
    assert decode_body(text, encoding) == body


def test_parse_entry_ignores_garbage() -> None:
    assert parse_entry(b"not json") is None
    assert parse_entry(b"[1]") is None
    assert parse_entry(b'{"id": "x"}') == {"id": "x"}


@pytest.mark.parametrize(
    ("exc", "retries", "max_retries", "reason"),
    [
        (RuntimeError("x"), 0, 3, DeadLetterReason.TASK_FAILED),
        (RuntimeError("x"), 3, 3, DeadLetterReason.RETRIES_EXHAUSTED),
        (RuntimeError("x"), 2, 3, DeadLetterReason.TASK_FAILED),
        (RuntimeError("x"), 5, None, DeadLetterReason.TASK_FAILED),
        (MaxRetriesExceededError(), 0, 0, DeadLetterReason.RETRIES_EXHAUSTED),
        (NonRetryable("bad"), 0, 3, DeadLetterReason.NON_RETRYABLE),
        (NonRetryable("bad"), 3, 3, DeadLetterReason.NON_RETRYABLE),
        (TimeLimitExceeded(5), 0, 3, DeadLetterReason.TIME_LIMIT),
        (SoftTimeLimitExceeded(), 0, 3, DeadLetterReason.TIME_LIMIT),
        (WorkerLostError("gone"), 0, 3, DeadLetterReason.WORKER_LOST),
        (Reject("no", requeue=False), 0, 3, DeadLetterReason.REJECTED),
        (Reject("later", requeue=True), 0, 3, None),
        (Retry("again"), 0, 3, None),
        (Ignore(), 0, 3, None),
        (Terminated("revoked"), 0, 3, None),
    ],
)
def test_failure_reason_table(
    exc: BaseException, retries: int, max_retries: int | None, reason: DeadLetterReason | None
) -> None:
    assert failure_reason(exc, retries=retries, max_retries=max_retries) == reason


def test_a_list_line_shows_index_id_time_reason_task_and_a_short_error() -> None:
    entry = make_entry(
        reason=DeadLetterReason.UNKNOWN_TASK,
        error="NotRegistered:\n" + "x" * 300,
        message=MESSAGE,
        queue="billing",
        now=0.0,
        entry_id="0123456789abcdef",
    )
    line = entry_line(4, entry)
    assert line.startswith(
        "4  0123456789ab  1970-01-01T00:00:00Z  unknown_task  billing.charge  t-1"
    )
    assert "\n" not in line and line.endswith("...")
    assert len(line) < 200
