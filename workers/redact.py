"""Masking secrets: passwords in URLs, Sentry DSN keys, tokens in query strings, known values.

Pure functions plus one :class:`logging.Filter`; ``hooks`` installs the filter on every handler
so that no log line of the worker (main process or pool child) prints a secret.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from workers.settings import WorkerSettings

MASK = "***"
SECRET_QUERY_KEYS = ("password", "passwd", "pwd", "token", "secret", "key", "auth", "sentry_key")

# scheme://user:password@  or  scheme://password@ (a Sentry DSN key, a Redis URL without user)
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^@/\s'\"]+)@")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:[A-Za-z_]*_)?(?:"
    + "|".join(SECRET_QUERY_KEYS)
    + r"))=(?P<value>[^&#\s'\"]+)",
    re.IGNORECASE,
)
_HEADER_SECRET = re.compile(
    r"(?P<key>\b(?:Bearer|Basic|Token))\s+(?P<value>[A-Za-z0-9._~+/=-]{8,})"
)


def _mask_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match["scheme"], match["userinfo"]
    user, colon, _password = userinfo.partition(":")
    if colon:
        return f"{scheme}{user}:{MASK}@"
    # A single component: the DSN key of Sentry, or a password-only Redis URL. Mask it.
    return f"{scheme}{MASK}@"


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with URL passwords, DSN keys, query tokens and the given ``secrets`` masked."""
    masked = text
    if "@" in masked:
        masked = _URL_USERINFO.sub(_mask_userinfo, masked)
    if "=" in masked:
        masked = _QUERY_SECRET.sub(lambda m: f"{m['key']}={MASK}", masked)
    if "Bearer" in masked or "Basic" in masked or "Token" in masked:
        masked = _HEADER_SECRET.sub(lambda m: f"{m['key']} {MASK}", masked)
    for secret in secrets:
        if secret and len(secret) >= 3:
            masked = masked.replace(secret, MASK)
    return masked


def mask_settings(value: Any, secrets: Iterable[str] = (), *, key: str = "") -> Any:
    """Celery settings (nested) with secrets masked as Celery's own censoring does: the whole
    value of a key naming a secret (``API``, ``TOKEN``, ``KEY``, ``SECRET``, ``PASS``,
    ``SIGNATURE``, ``DATABASE`` ... as ``celery.app.utils.HIDDEN_SETTINGS``), and passwords,
    DSN keys and query tokens inside every string."""
    from celery.app.utils import HIDDEN_SETTINGS

    if key and HIDDEN_SETTINGS.search(key) and value not in (None, "", [], {}):
        return MASK
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, dict):
        return {k: mask_settings(v, secrets, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_settings(v, secrets) for v in value]
    return value


def mask_url(url: str | None) -> str | None:
    """A URL with its password (or DSN key) and secret query values masked; None stays None."""
    if url is None:
        return None
    return mask_text(url)


def url_secrets(url: str | None) -> list[str]:
    """The literal secrets in ``url`` (password or lone user part), to mask elsewhere too."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [s for s in (parts.password,) if s]
    if parts.username and not parts.password and "@" in parts.netloc:
        found.append(parts.username)
    return found


def settings_secrets(settings: WorkerSettings) -> list[str]:
    """Every literal secret the settings carry: passwords, the DSN, passwords inside URLs."""
    found = [s for s in (settings.redis_password, settings.sentry_dsn) if s]
    for url in (settings.broker_url, settings.backend_url, settings.sentry_dsn):
        found += url_secrets(url)
    return found


class RedactFilter(logging.Filter):
    """Rewrites each record's message (and exception text) with its secrets masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave the record alone
            return True
        masked = mask_text(message, self.secrets)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text, self.secrets)
        return True


def install_filter(secrets: Iterable[str], loggers: Iterable[logging.Logger] = ()) -> RedactFilter:
    """Add one :class:`RedactFilter` to every handler of the root logger and of ``loggers``."""
    redact = RedactFilter(secrets)
    for logger in (logging.getLogger(), *loggers):
        for handler in logger.handlers:
            if not any(isinstance(f, RedactFilter) for f in handler.filters):
                handler.addFilter(redact)
    return redact
