"""The defaults a Helm values file gives its queues, resolved the way the chart resolves them.

The chart merges ``queueDefaults`` under every entry of ``queues`` (maps merge key by key, any
other value of the queue wins, ``null`` included) and takes a missing ``concurrency`` from
``pools.<pool>.concurrency``, or, when that is null, from the CPU request rounded up. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            out[key] = merge(base[key], value)
        else:
            out[key] = value
    return out


def cpu_count(request: object) -> int:
    """A CPU quantity (``"500m"``, ``"1"``, ``2``) rounded up, at least 1."""
    text = str(request if request is not None else "1")
    try:
        value = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        return 1
    return max(1, math.ceil(value))


def resolve_queue(values: Mapping[str, Any], queue: Mapping[str, Any]) -> dict[str, Any]:
    """One ``queues`` entry with the chart's defaults filled in."""
    defaults = values.get("queueDefaults")
    merged = merge(defaults, queue) if isinstance(defaults, Mapping) else dict(queue)
    if merged.get("concurrency") is not None:
        return merged
    pools = _mapping(values.get("pools"))
    pool = _mapping(pools.get(merged.get("pool") or "prefork"))
    if pool.get("concurrency") is not None:
        merged["concurrency"] = pool["concurrency"]
    else:
        resources = _mapping(merged.get("resources") or pool.get("resources"))
        merged["concurrency"] = cpu_count(_mapping(resources.get("requests")).get("cpu"))
    return merged


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
