"""A beat replica's settings: typed, frozen, read once from flags and ``SHOAL_*`` variables.

Redis comes from :mod:`contract.connection` (the one precedence, a password file included) and
the priority lists from :mod:`contract.priority` (``SHOAL_PRIORITY_STEPS`` /
``SHOAL_PRIORITY_SEP``), exactly as the workers read them.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from contract.connection import RedisSettings
from contract.priority import Priorities

DEFAULT_METRICS_PORT = 9812


class BeatSettingsError(ValueError):
    """A setting is malformed; the message names it."""


@dataclass(frozen=True)
class BeatSettings:
    schedules_path: Path | None = None
    """``--schedules``: the schedules file (None: none)."""
    app: str | None = None
    """``--app`` / ``SHOAL_APP``: the team's Celery app, as ``celery -A`` names it; its
    ``beat_schedule`` (or django-celery-beat's tables) are scheduled beside the file."""
    redis: RedisSettings = field(default_factory=RedisSettings)
    """The broker the tasks go to and where the beat keeps its state."""
    priorities: Priorities = field(default_factory=Priorities)
    """The priority lists the messages go to: the workers' steps and separator."""
    leader_lease: bool = True
    """False: every replica tries every tick (the fence still fires each once)."""
    lease_s: float = 10.0
    """A crashed leader is replaced within this time."""
    metrics_port: int = DEFAULT_METRICS_PORT
    """0 turns the metrics endpoint off."""
    reload_interval_s: float = 1.0
    """How often the sources are checked for changes (the file's stamp, the database's
    change marker)."""
    max_sleep_s: float = 1.0
    sentry_dsn: str | None = field(default=None, repr=False)
    """SHOAL_SENTRY_DSN (or SHOAL_SENTRY_DSN_FILE): Sentry Crons check-ins per entry when set."""
    replica_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")

    def __post_init__(self) -> None:
        if self.lease_s <= 0:
            raise BeatSettingsError(f"--lease-s: must be > 0, got {self.lease_s}")
        if not 0 <= self.metrics_port <= 65535:
            raise BeatSettingsError(f"--metrics-port: must be 0-65535, got {self.metrics_port}")
        if self.reload_interval_s <= 0:
            raise BeatSettingsError("reload_interval_s must be > 0")
        if self.schedules_path is None and not self.app:
            raise BeatSettingsError("give --schedules FILE, --app APP (SHOAL_APP) or both")
