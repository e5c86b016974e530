"""Real OS threads and locks, also in a gevent worker (where ``threading`` is monkey-patched).

The keeper (:mod:`workers.keeper`) must beat while a greenlet keeps the CPU busy without yielding:
a greenlet-based thread would not run until it yields, and a live worker would look dead. A
native thread gets the interpreter every switch interval whatever the greenlets do. Its Redis
client is made and used in that thread only (gevent gives the thread its own hub); what it
shares with greenlets (the holding's queue of operations) is guarded by a native lock held for a
few instructions, never across I/O.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any


def _monkey() -> Any:
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        return monkey
    return None


def is_green() -> bool:
    """Whether ``threading`` is gevent's in this process."""
    return _monkey() is not None


def lock() -> Any:
    """A lock of the operating system (gevent's would not exclude a native thread)."""
    monkey = _monkey()
    if monkey is None:
        return threading.Lock()
    return monkey.get_original("_thread", "allocate_lock")()


def start_thread(target: Callable[[], None], *, name: str) -> None:
    """Run ``target`` in a daemon OS thread."""
    monkey = _monkey()
    if monkey is None:
        threading.Thread(target=target, name=name, daemon=True).start()
        return
    monkey.get_original("_thread", "start_new_thread")(target, ())
