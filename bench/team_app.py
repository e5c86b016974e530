"""A plain team app for ``bench.app_throughput``: Celery's defaults, its own no-op task.

``shoal worker --app bench.team_app`` runs it with the platform layer installed onto it; the
baseline is ``shoal worker`` on the built-in ``shoal.noop``. No broker is set here: the worker's
``SHOAL_REDIS_URL`` fills it, as the platform's defaults fill what an app leaves unset.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

app = Celery("team")


@app.task(name="team.noop")
def noop(*args: Any, **kwargs: Any) -> None:
    """The same no-op as shoal's built-in ``shoal.noop``, as the team's own task."""
