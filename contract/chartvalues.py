"""A Helm values file's queues, resolved exactly as the chart's templates resolve them.

``charts/shoal/templates/_helpers.tpl`` is the reference and this module follows it step by
step; ``tests/chart/test_values_view.py`` compares the two, with the real helm, for every values
file in the repository. The steps:

1. :func:`coalesce`: helm's own layering of the user's values over the chart's ``values.yaml``
   (maps merged key by key, lists and scalars replaced, a ``null`` removing the chart's default);
   :func:`merge` also layers several ``-f`` files, as helm does.
2. :func:`resolve_queues` (``shoal.queues``): ``queueDefaults`` merged under each queue (maps
   merged recursively, lists replaced, the queue's own ``null``, ``0`` or ``false`` winning);
   the pool's ``resources`` when the queue has none; ``concurrency`` from the queue, else
   ``pools.<pool>.concurrency``, else the CPU request of those resources rounded up
   (:func:`cpu_count`); ``prefetchMultiplier`` from the queue, else the pool's; then ``slug``,
   ``index`` and ``deployment`` (:func:`deployment_name`).
3. :func:`autoscaler_queues`: the queues of the autoscaler's config file
   (``templates/autoscaler.yaml``): the autoscaled ones, their null fields left out.

Pure: no YAML, no files. The names a queue gives in Kubernetes follow :mod:`contract.queues`.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from typing import Any

from contract.fields import ConfigError
from contract.queues import RULE, is_queue_name

CHART_NAME = "shoal"
"""``name`` in ``charts/shoal/Chart.yaml``."""
RELEASE = "shoal"
"""The release name the docs install with; the simulator names Deployments as it would."""
FULLNAME_MAX = 40
NAME_MAX = 63

Values = dict[str, Any]


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> Values:
    """``over`` on ``base`` (``shoal.merge``, and helm's layering of ``-f`` files): maps merge
    key by key, recursively; any other value of ``over`` wins, ``null``, ``0`` and ``false``
    included; lists are replaced."""
    out = dict(base)
    for key, value in over.items():
        below = base.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            out[key] = merge(below, value)
        else:
            out[key] = value
    return out


def coalesce(chart: Mapping[str, Any], user: Mapping[str, Any]) -> Values:
    """The values the templates see: ``user`` over the chart's ``values.yaml``, the way helm
    coalesces them (``chartutil.CoalesceValues``): a key the user leaves out takes the chart's
    value, a user's ``null`` removes the key, maps coalesce key by key and anything else the
    user gives wins. Below the top level a user's ``null`` is removed even where the chart has
    no such key (helm does the same)."""
    out = dict(user)
    for key, default in chart.items():
        if key not in user:
            out[key] = copy.deepcopy(default)
        elif user[key] is None:
            del out[key]
        elif isinstance(user[key], Mapping) and isinstance(default, Mapping):
            out[key] = _coalesce_table(user[key], default)
    return out


def _coalesce_table(user: Mapping[str, Any], chart: Mapping[str, Any]) -> Values:
    out = {key: value for key, value in user.items() if value is not None}
    for key, default in chart.items():
        if key not in user:
            out[key] = copy.deepcopy(default)
        elif isinstance(out.get(key), Mapping) and isinstance(default, Mapping):
            out[key] = _coalesce_table(out[key], default)
    return out


def cpu_count(request: object) -> int:
    """A CPU request (``"500m"``, ``"1.5"``, ``2``) rounded up to whole CPUs, at least 1
    (``shoal.cpuCount``; like sprig, what is not a number counts as 0)."""
    text = str(request) if request not in (None, "", 0, False) else "1"
    cpus = _float(text[:-1]) / 1000 if text.endswith("m") else _float(text)
    if not math.isfinite(cpus):
        return 1
    return max(1, math.ceil(cpus))


def queue_slug(name: str) -> str:
    """The queue's name as a Kubernetes name part (``shoal.queueSlug``): lower case, every
    character but ``a-z 0-9 -`` as ``-``, no ``-`` at either end."""
    return re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")


def fullname(values: Mapping[str, Any], release: str = RELEASE) -> str:
    """The prefix of every object's name (``shoal.fullname``)."""
    override = values.get("fullnameOverride")
    if override:
        full = str(override)
    else:
        name = str(values.get("nameOverride") or CHART_NAME)
        full = release if name in release else f"{release}-{name}"
    return re.sub(r"[-.]+$", "", full[:FULLNAME_MAX])


def deployment_name(full: str, slug: str) -> str:
    """``<fullname>-worker-<slug>`` cut to 63 characters, without a ``-`` at the end."""
    return re.sub(r"-+$", "", f"{full}-worker-{slug}"[:NAME_MAX])


def resolve_queues(values: Mapping[str, Any], *, release: str = RELEASE) -> list[Values]:
    """Every entry of ``values["queues"]`` with the chart's defaults filled in, plus ``slug``,
    ``index`` and ``deployment``; ``values`` as the templates see them (see :func:`coalesce`).

    :class:`ConfigError` names the entry and the field where the chart would fail: a name
    outside the rule, an unknown pool, two queues with one Deployment name.
    """
    items = values.get("queues")
    if items is None:
        return []
    if not isinstance(items, list):
        raise ConfigError("queues: expected a list of queues")
    full = fullname(values, release)
    defaults = _mapping(values.get("queueDefaults"))
    pools = _mapping(values.get("pools"))
    seen: dict[str, str] = {}
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ConfigError(f"queues[{index}]: expected a mapping")
        queue = _resolve(merge(defaults, item), pools, index=index)
        queue["deployment"] = deployment_name(full, queue["slug"])
        first = seen.setdefault(queue["deployment"], queue["name"])
        if first != queue["name"]:
            raise ConfigError(
                f"queues[{index}] ({queue['name']}): name: another queue ({first}) gives the "
                f"same Deployment name {queue['deployment']}"
            )
        out.append(queue)
    return out


def _resolve(queue: Values, pools: Mapping[str, Any], *, index: int) -> Values:
    name = queue.get("name")
    if not is_queue_name(name):
        raise ConfigError(f"queues[{index}].name: expected a queue name ({RULE}), got {name!r}")
    pool_name = queue.get("pool")
    pool = pools.get(pool_name) if isinstance(pool_name, str) else None
    if not isinstance(pool, Mapping):
        choices = ", ".join(sorted(str(p) for p in pools)) or "none defined"
        raise ConfigError(
            f"queues[{index}] ({name}).pool: expected one of {choices}, got {pool_name!r}"
        )
    if "resources" not in queue:
        queue["resources"] = pool.get("resources")
    if queue.get("concurrency") is None:
        if pool.get("concurrency") is None:
            requests = _mapping(_mapping(queue["resources"]).get("requests"))
            queue["concurrency"] = cpu_count(requests.get("cpu"))
        else:
            queue["concurrency"] = as_int(pool["concurrency"])
    if queue.get("prefetchMultiplier") is None:
        queue["prefetchMultiplier"] = pool.get("prefetchMultiplier")
    queue["slug"] = queue_slug(str(name))
    queue["index"] = index
    return queue


def autoscaled(queue: Mapping[str, Any]) -> bool:
    """``if $q.autoscaling.enabled``: the autoscaler sets this queue's replicas."""
    return bool(_mapping(queue.get("autoscaling")).get("enabled"))


def autoscaler_queues(queues: list[Values]) -> list[Values]:
    """The ``queues`` of the autoscaler's config file, as ``templates/autoscaler.yaml`` writes
    them from resolved queues."""
    return [
        {
            "name": q["name"],
            "pool": q["pool"],
            "concurrency": as_int(q["concurrency"]),
            "deployment": q["deployment"],
            "autoscaling": compact(_mapping(q.get("autoscaling"))),
        }
        for q in queues
        if autoscaled(q)
    ]


def compact(values: Mapping[str, Any]) -> Values:
    """Without the keys whose value is null, in nested maps too (``shoal.compact``)."""
    return {
        key: compact(value) if isinstance(value, Mapping) else value
        for key, value in values.items()
        if value is not None
    }


def as_int(value: object) -> int:
    """A value as sprig's ``int`` reads it: numbers truncated, numeric text parsed, else 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    number = _float(str(value)) if not isinstance(value, float) else value
    return int(number) if math.isfinite(number) else 0


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
