"""gevent: patch the standard library before anything imports sockets, and the database driver.

:func:`patch` runs first in ``shoal worker --pool gevent``. A Django team's psycopg2 blocks the
whole process on every query (a C library waiting on its socket) unless psycogreen hands its
waits to gevent; when psycogreen is installed next to psycopg2, it is switched on here, and when
it is missing, a line says so. Other drivers: see docs/your-app.md.
"""

from __future__ import annotations

import importlib.util


def patch() -> list[str]:
    """Monkey-patch for gevent; the lines to print about database drivers."""
    from gevent import monkey

    monkey.patch_all()
    if importlib.util.find_spec("psycopg2") is None:
        return []
    try:
        from psycogreen.gevent import patch_psycopg
    except ImportError:
        return [
            "psycopg2 is installed but psycogreen is not: each database query blocks every "
            "task of this gevent worker (install psycogreen in your image)"
        ]
    patch_psycopg()
    return []
