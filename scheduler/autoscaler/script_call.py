"""EVALSHA of one script whose keys and leading arguments stay the same from call to call.

The autoscaler's observation sends the same 6,000 key names every poll; redis-py would pack
them again each time (about a millisecond of the client's time). :class:`ScriptCall` packs
them once and, per call, only the last argument.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis


def _bulk(arg: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(arg), arg)


class ScriptCall:
    """EVALSHA of one script with fixed KEYS and leading ARGV, packed once.

    Packing 6,000 key names costs the client about a millisecond per call through redis-py;
    here a call packs only the last argument and sends the rest as stored bytes. A missing
    script (a restarted or failed-over server) is loaded and the call repeated; a broken pooled
    connection is dropped and the call repeated once on a fresh one.
    """

    def __init__(self, client: redis.Redis, script: str) -> None:
        self.client = client
        self.script = script
        self.sha = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
        self._packed: tuple[object, int, bytes] | None = None

    def prepare(self, tag: object, keys_: Sequence[str], args: Sequence[str | int]) -> None:
        """Pack EVALSHA's arguments up to the last one, which :meth:`call` adds."""
        parts = [b"EVALSHA", self.sha.encode(), b"%d" % len(keys_)]
        parts += [k.encode() for k in keys_]
        parts += [str(a).encode() for a in args]
        self._packed = (tag, len(parts) + 1, b"".join(_bulk(p) for p in parts))

    def prepared_for(self, tag: object) -> bool:
        """Whether the packed arguments are those :meth:`prepare` made for ``tag``."""
        return self._packed is not None and self._packed[0] == tag

    def packed(self, last_arg: int) -> bytes:
        """The whole EVALSHA command as RESP, ``last_arg`` appended to what was prepared."""
        assert self._packed is not None, "prepare() first"
        _, count, body = self._packed
        return b"*%d\r\n%s%s" % (count, body, _bulk(b"%d" % last_arg))

    def call(self, last_arg: int) -> Any:
        """Run the script (one round trip; three when the server has to load it first)."""
        packed = self.packed(last_arg)
        try:
            return self._send(packed)
        except redis.exceptions.NoScriptError:
            self.client.script_load(self.script)
            return self._send(packed)

    def _send(self, packed: bytes) -> Any:
        pool = self.client.connection_pool
        for attempt in (1, 2):
            conn = pool.get_connection()
            try:
                conn.send_packed_command([packed])  # type: ignore[no-untyped-call]
                return conn.read_response()
            except redis.ConnectionError:
                conn.disconnect()  # type: ignore[no-untyped-call]
                if attempt == 2:
                    raise
            except redis.TimeoutError:
                conn.disconnect()  # type: ignore[no-untyped-call]
                raise
            finally:
                pool.release(conn)
        raise AssertionError("unreachable")
