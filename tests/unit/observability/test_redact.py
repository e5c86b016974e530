"""Secrets never leave in URLs, log lines or exception texts."""

from __future__ import annotations

import logging

import pytest

from workers.redact import MASK, RedactFilter, mask_text, mask_url, url_secrets


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("redis://:pw1234@redis:6379/0", "redis://:***@redis:6379/0"),
        ("redis://app:pw1234@redis:6379/0", "redis://app:***@redis:6379/0"),
        (
            "rediss://app:p%40ss@r.example:6380/1?ssl_cert_reqs=none",
            "rediss://app:***@r.example:6380/1?ssl_cert_reqs=none",
        ),
        ("redis://pwonly@redis:6379/0", "redis://***@redis:6379/0"),
        ("redis://redis:6379/0", "redis://redis:6379/0"),
        ("unix:///var/run/redis.sock?db=0", "unix:///var/run/redis.sock?db=0"),
        (
            "sentinel://:pw@s1:26379;sentinel://:pw@s2:26379",
            "sentinel://:***@s1:26379;sentinel://:***@s2:26379",
        ),
        ("https://abcdef0123@o12.ingest.sentry.io/42", "https://***@o12.ingest.sentry.io/42"),
        ("http://h/x?token=abc&x=1", "http://h/x?token=***&x=1"),
        ("http://h/x?access_token=abc", "http://h/x?access_token=***"),
        ("http://h/x?api_key=abc#f", "http://h/x?api_key=***#f"),
        ("rediss://h/0?ssl_keyfile=/k.pem", "rediss://h/0?ssl_keyfile=/k.pem"),
    ],
)
def test_masks_url_secrets(raw: str, expected: str) -> None:
    assert mask_url(raw) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Cannot connect to redis://:hunter22@10.0.0.1:6379/0: refused",
            "Cannot connect to redis://:***@10.0.0.1:6379/0: refused",
        ),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y", "Authorization: Bearer ***"),
        (
            "two urls redis://a:b1@h and rediss://c:d2@i",
            "two urls redis://a:***@h and rediss://c:***@i",
        ),
        ("mail me at user@example.com", "mail me at user@example.com"),
    ],
)
def test_masks_secrets_in_free_text(text: str, expected: str) -> None:
    assert mask_text(text) == expected


def test_masks_known_secret_values_anywhere() -> None:
    assert mask_text("password is hunter22!", ["hunter22"]) == f"password is {MASK}!"
    assert mask_text("ab", ["a"]) == "ab", "secrets shorter than 3 characters are not replaced"


def test_mask_url_keeps_none() -> None:
    assert mask_url(None) is None


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("redis://:pw1@h:1/0", ["pw1"]),
        ("redis://u:pw2@h/0", ["pw2"]),
        ("https://key3@sentry.example/1", ["key3"]),
        ("redis://h:6379/0", []),
        (None, []),
    ],
)
def test_url_secrets(url: str | None, secrets: list[str]) -> None:
    assert url_secrets(url) == secrets


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ConnectionError("redis://:topsecret@h:6379 refused")
        except ConnectionError:
            import sys

            exc_info = sys.exc_info()
    return logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args or None, exc_info)


def test_filter_masks_formatted_message_and_traceback() -> None:
    redact = RedactFilter(["hunter22"])
    record = _record("connect %s with %s", "redis://:topsecret@h:6379/0", "hunter22", exc=True)
    assert redact.filter(record) is True
    assert record.getMessage() == f"connect redis://:***@h:6379/0 with {MASK}"
    assert record.exc_text is not None
    assert "topsecret" not in record.exc_text and "redis://:***@h:6379" in record.exc_text


def test_filter_applies_to_every_handler_output() -> None:
    import io

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter(["s3cr3t"]))
    logger = logging.getLogger("shoal.test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token %s url %s", "s3cr3t", "redis://u:pw9@h/0")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().strip() == "token *** url redis://u:***@h/0"
