"""Config reload without a restart: poll the file's content; a bad file keeps the last good one."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from scheduler.autoscaler.config import ConfigError, ControllerConfig, load_config

log = logging.getLogger("shoal.autoscaler.config")


class ConfigWatcher:
    """``poll()`` returns a new config when the file changed and is valid, else None.

    The content hash is compared (not only the mtime: a ConfigMap update swaps a symlink and
    may keep times), and a refused file is not re-parsed until it changes again.
    """

    def __init__(self, path: str | Path, config: ControllerConfig) -> None:
        self.path = Path(path)
        self.config = config
        self.digest = self._digest()
        self.last_error: str | None = None

    def _digest(self) -> str | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None

    def poll(self) -> ControllerConfig | None:
        digest = self._digest()
        if digest is None or digest == self.digest:
            return None
        self.digest = digest
        try:
            config = load_config(self.path)
        except ConfigError as exc:
            self.last_error = str(exc)
            log.error("config %s refused, keeping the last good one: %s", self.path, exc)
            raise
        self.last_error = None
        log.info("config %s reloaded: %d queues", self.path, len(config.queues))
        self.config = config
        return config
