"""A beat replica's settings: typed, frozen, read once from flags and ``SHOAL_*`` variables."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_METRICS_PORT = 9812
CLOCK_OFFSET_ENV = "SHOAL_BEAT_CLOCK_OFFSET_S"


class BeatSettingsError(ValueError):
    """A setting is malformed; the message names it."""


@dataclass(frozen=True)
class BeatSettings:
    schedules_path: Path
    redis_url: str = DEFAULT_REDIS_URL
    """The broker the tasks go to and where the beat keeps its state (SHOAL_REDIS_URL)."""
    leader_lease: bool = True
    """False: every replica tries every tick (the fence still fires each once)."""
    lease_s: float = 10.0
    """A crashed leader is replaced within this time."""
    metrics_port: int = DEFAULT_METRICS_PORT
    """0 turns the metrics endpoint off."""
    reload_interval_s: float = 1.0
    """How often the schedules file is checked for changes."""
    max_sleep_s: float = 1.0
    clock_offset_s: float = 0.0
    """Tests only (SHOAL_BEAT_CLOCK_OFFSET_S): the replica's clock runs this far ahead."""
    sentry_dsn: str | None = field(default=None, repr=False)
    """SHOAL_SENTRY_DSN: Sentry Crons check-ins per entry when set."""
    replica_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")

    def __post_init__(self) -> None:
        if self.lease_s <= 0:
            raise BeatSettingsError(f"lease_s must be > 0, got {self.lease_s}")
        if not 0 <= self.metrics_port <= 65535:
            raise BeatSettingsError(f"metrics_port must be 0-65535, got {self.metrics_port}")
        if self.reload_interval_s <= 0:
            raise BeatSettingsError("reload_interval_s must be > 0")


def clock_offset_from(env: Mapping[str, str]) -> float:
    raw = env.get(CLOCK_OFFSET_ENV, "0") or "0"
    try:
        return float(raw)
    except ValueError:
        raise BeatSettingsError(f"{CLOCK_OFFSET_ENV} must be a number, got {raw!r}") from None
