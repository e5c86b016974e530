"""What every shoal process reports through, declared once: its log level and Sentry. Pure."""

from __future__ import annotations

from contract.fields import Setting
from contract.kinds import Choice, Text

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_LEVEL_ENV = "SHOAL_LOG_LEVEL"


def log_level_kind() -> Choice[str]:
    """A logging level name; in text any case (``SHOAL_LOG_LEVEL=debug``)."""
    return Choice(LOG_LEVELS, fold=str.upper)


SENTRY_DSN = Setting(
    Text(),
    None,
    "Sentry's DSN: errors (workers) and Crons check-ins (beat) are sent when set.",
    env="SHOAL_SENTRY_DSN",
    secret=True,
)
SERVICE_LOG_LEVEL = Setting(
    log_level_kind(),
    "INFO",
    "The log level of the beat and the autoscaler.",
    env=LOG_LEVEL_ENV,
    options=("--log-level",),
)
