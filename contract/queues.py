"""The queue-name rule, one for every part: worker settings, the controller's config, schedule
entries, the dead-letter command and the chart's schema.

A queue name becomes a Redis key part (``shoal:inflight:<queue>``), a Prometheus label, a
Kubernetes label value (``shoal.io/queue-name``) and, lower-cased, part of the worker
Deployment's name. So it follows the strictest of these, Kubernetes' label-value syntax: 1-63
characters, letters, digits, ``_``, ``.`` and ``-``, starting and ending with a letter or digit.
The chart's ``values.schema.json`` carries the same pattern (a test compares them).
"""

from __future__ import annotations

import re

from contract.kinds import Text

MAX_LENGTH = 63
PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$"
RULE = "1-63 letters, digits, _ . -, starting and ending with a letter or digit"
DEFAULT_QUEUE = "celery"
"""The queue of a task that names none: Celery's own ``task_default_queue``, so a stock
``.delay()``, a worker started without ``--queue`` and a schedule entry without ``queue:`` meet."""
_NAME = re.compile(PATTERN)


def is_queue_name(name: object) -> bool:
    return isinstance(name, str) and _NAME.match(name) is not None


def check_queue_name(name: object) -> str:
    """``name`` if it is a queue name, else ``ValueError`` saying what the rule is."""
    if not is_queue_name(name):
        raise ValueError(f"{name!r} is not a queue name ({RULE})")
    assert isinstance(name, str)
    return name


class QueueName(Text):
    """The kind of a setting that holds a queue name (:mod:`contract.fields`)."""

    def __init__(self) -> None:
        super().__init__(pattern=PATTERN, rule=f"a queue name ({RULE})")
