"""Delivery upkeep the controller runs every pass for its queues, while it leads.

- promote: delayed tasks that are due go back to the front of their lists
  (:func:`contract.delayed.promote`), so they move at their due time even when every worker of
  the queue is at zero;
- recover: the held tasks of workers known dead go back to their lists
  (:func:`contract.held.sweep`).

Every live worker runs both too; both are exactly-once by design (one Lua script each moves a
message once, however many processes race), so the controller running them is safe. A failure
is logged (once when it starts, once when it ends), counted, and tried again next pass; it never
stops the loop and never feeds a decision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from contract import delayed, held

log = logging.getLogger("shoal.autoscaler.upkeep")

SWEEP_TTL_MS = 0
"""The sweep lists every incarnation whose deadline passed; ``recover.lua`` then judges each by
its own liveness timeout (also right after a Redis restart), so the controller needs none."""


class UpkeepResult(NamedTuple):
    promoted: int = 0
    """Delayed tasks moved back to their lists."""
    recovered: int = 0
    """Tasks of dead workers given back."""
    failed: tuple[str, ...] = ()
    """The tasks that failed this pass (``promote``, ``recover``)."""


Promote = Callable[[Any, Sequence[str]], int]
Recover = Callable[[Any], int]


def _promote(client: Any, queues: Sequence[str]) -> int:
    return delayed.promote(client, queues)


def _recover(client: Any) -> int:
    return sum(held.sweep(client, ttl_ms=SWEEP_TTL_MS).values())


@dataclass
class Upkeep:
    """Runs the upkeep against ``client``; ``promote`` and ``recover`` are the contract's."""

    client: Any
    promote: Promote = _promote
    recover: Recover = _recover
    failing: dict[str, str] = field(default_factory=dict)
    """The tasks failing now, with the last error (logged when a task starts or stops failing)."""

    def run(self, queues: Sequence[str]) -> UpkeepResult:
        promoted = self._attempt("promote", lambda: self.promote(self.client, queues))
        recovered = self._attempt("recover", lambda: self.recover(self.client))
        failed = tuple(name for name in ("promote", "recover") if name in self.failing)
        if promoted:
            log.info("promoted %d due delayed task(s)", promoted)
        if recovered:
            log.warning("gave back %d task(s) held by dead workers", recovered)
        return UpkeepResult(promoted, recovered, failed)

    def _attempt(self, name: str, action: Callable[[], int]) -> int:
        try:
            done = action()
        except Exception as exc:  # Redis away, scripting refused, a bad key: next pass again
            error = f"{type(exc).__name__}: {exc}"
            if name not in self.failing:
                log.warning("%s failed (retried every pass): %s", name, error)
            self.failing[name] = error
            return 0
        if self.failing.pop(name, None) is not None:
            log.info("%s works again", name)
        return done
