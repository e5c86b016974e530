"""The delivery Lua scripts (``contract/lua/*.lua``), each loaded once and run by its SHA.

Every script is its ``.lua`` file with ``prelude.lua`` (Redis time and the liveness rule) put in
front, so the rule is written once. :func:`run` sends ``EVALSHA`` and, when Redis answers
NOSCRIPT (it started again without the script cache), loads the script and sends it again.
Pure text handling at import; ``redis`` is imported only by :func:`run`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

Arg = str | bytes | int | float


@functools.cache
def source(name: str) -> str:
    """The script ``name`` as Redis runs it: the prelude, then ``lua/<name>.lua``."""
    folder = files("contract").joinpath("lua")
    prelude = folder.joinpath("prelude.lua").read_text(encoding="utf-8")
    return prelude + "\n" + folder.joinpath(f"{name}.lua").read_text(encoding="utf-8")


@functools.cache
def sha(name: str) -> str:
    return hashlib.sha1(source(name).encode("utf-8")).hexdigest()


def run(client: Any, name: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
    """Run script ``name`` on a redis-py client (loading it first if Redis lost it)."""
    from redis.exceptions import NoScriptError

    try:
        return client.evalsha(sha(name), len(keys), *keys, *args)
    except NoScriptError:
        client.script_load(source(name))
        return client.evalsha(sha(name), len(keys), *keys, *args)


def is_noscript(exc: BaseException) -> bool:
    """Whether ``exc`` is Redis saying it does not know the script (for raw EVALSHA replies)."""
    return str(exc).startswith("NOSCRIPT")
