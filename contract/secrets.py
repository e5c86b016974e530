"""Secrets reach a process as a mounted file or, outside Kubernetes, as a variable: one rule.

``SHOAL_<NAME>`` (the value itself) wins over ``SHOAL_<NAME>_FILE`` (a path whose content,
without its trailing newline, is the value). The chart mounts Secrets as files and sets only
the ``_FILE`` variables, so no secret is ever in a pod's environment.
"""

from __future__ import annotations

from collections.abc import Mapping

FILE_SUFFIX = "_FILE"


def read_secret_file(path: str) -> str:
    """A secret mounted as a file, without its trailing newline; ``OSError`` if unreadable."""
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip()


def secret_from_env(env: Mapping[str, str], variable: str) -> str | None:
    """``env[variable]``, else the content of the file ``env[variable + "_FILE"]``, else None.

    ``ValueError`` names the ``_FILE`` variable when its file cannot be read.
    """
    value = env.get(variable)
    if value:
        return value
    path = env.get(variable + FILE_SUFFIX)
    if not path:
        return None
    try:
        return read_secret_file(path) or None
    except OSError as exc:
        raise ValueError(
            f"{variable}{FILE_SUFFIX}: cannot read {path!r} ({exc.strerror})"
        ) from None
