"""The schedules file as a source: re-read when its mtime, size or bytes change.

A bad file stops the beat at start; on a reload it is refused whole and the last good file
stays in force (``shoal_beat_reload_errors_total``, one log line naming the entry and field).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from pathlib import Path

from scheduler.beat.metrics import BeatMetrics
from scheduler.beat.sources import Changes
from scheduler.beat.spec import Entry, ScheduleSet, SpecError, load_schedules

log = logging.getLogger("shoal.beat")


class FileSource:
    kind = "file"

    def __init__(self, path: Path, metrics: BeatMetrics) -> None:
        self.path = path
        self.metrics = metrics
        self._stamp = self._file_stamp()
        self.current: ScheduleSet = ScheduleSet((), "")
        self.last_error: str | None = None

    def _file_stamp(self) -> tuple[float, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def _tagged(self, schedules: ScheduleSet) -> dict[str, Entry]:
        return {
            e.name: dataclasses.replace(e, source=self.kind, where=f"{self.path} entry {e.name!r}")
            for e in schedules.entries
        }

    def load(self) -> list[Entry]:
        self.current = load_schedules(self.path)  # a bad file stops startup here
        return list(self._tagged(self.current).values())

    def poll(self) -> Changes:
        """Reload if the file changed; the entries added, changed and removed."""
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return Changes()
        self._stamp = stamp
        try:
            loaded = load_schedules(self.path)
        except SpecError as exc:
            self.metrics.reload_errors.inc()
            self.last_error = str(exc)
            log.error("schedules reload refused, keeping the last good file: %s", exc)
            return Changes()
        if loaded.digest == self.current.digest:
            return Changes()
        old, new = self._tagged(self.current), self._tagged(loaded)
        added = sorted(set(new) - set(old))
        removed = sorted(set(old) - set(new))
        changed = sorted(n for n in set(old) & set(new) if old[n] != new[n])
        log.info("schedules reloaded: added=%s removed=%s changed=%s", added, removed, changed)
        self.current, self.last_error = loaded, None
        return Changes([new[n] for n in added + changed], removed)

    def fired(self, entry: Entry, tick: datetime, published: datetime) -> None:
        return None

    def reject(self, entry: Entry, field_name: str, message: str) -> None:
        self.metrics.reload_errors.inc()
        log.error("%s, field %r: %s; the entry is left out", entry.where, field_name, message)

    def close(self) -> None:
        return None
