"""EVALSHA of one script over fixed chunks of keys, all sent in one round trip.

The autoscaler's observation sends the same 6,000 key names every poll; redis-py would pack
them again each time (about a millisecond of the client's time). :class:`ScriptCall` packs
them once and, per call, only the last argument. The keys come in chunks, one EVALSHA each,
written together and answered together: one round trip, while Redis, which runs one script at a
time and nothing else meanwhile, can serve other clients between two chunks. Other scripts'
calls whose arguments never change (the delivery census) can ride along after the chunks, packed
once too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis


def _bulk(arg: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(arg), arg)


class ScriptCall:
    """EVALSHA of one script per chunk of KEYS and leading ARGV, packed once.

    Packing 6,000 key names costs the client about a millisecond per call through redis-py;
    here a call packs only the last argument of each chunk and sends the rest as stored bytes.
    A missing script (a restarted or failed-over server) is loaded and the call repeated; a
    broken pooled connection is dropped and the call repeated once on a fresh one.
    """

    def __init__(self, client: redis.Redis, script: str) -> None:
        self.client = client
        self.script = script
        self.sha = sha1(script)
        self._packed: tuple[object, list[tuple[int, bytes]]] | None = None
        self._then: list[bytes] = []
        self._then_scripts: list[str] = []

    def prepare(
        self,
        tag: object,
        chunks: Sequence[tuple[Sequence[str], Sequence[str | int]]],
        *,
        then: Sequence[tuple[str, Sequence[str], Sequence[str | int]]] = (),
    ) -> None:
        """Pack one EVALSHA per ``(keys, args)`` chunk, up to the last argument, which
        :meth:`call` adds; then one complete EVALSHA per ``(script, keys, args)`` of ``then``,
        sent after the chunks as they are."""
        packed = []
        for keys_, args in chunks:
            parts = _evalsha(self.sha, keys_, args)
            packed.append((len(parts) + 1, b"".join(_bulk(p) for p in parts)))
        self._packed = (tag, packed)
        self._then, self._then_scripts = [], []
        for script, keys_, args in then:
            parts = _evalsha(sha1(script), keys_, args)
            self._then.append(b"*%d\r\n%s" % (len(parts), b"".join(_bulk(p) for p in parts)))
            self._then_scripts.append(script)

    def prepared_for(self, tag: object) -> bool:
        """Whether the packed arguments are those :meth:`prepare` made for ``tag``."""
        return self._packed is not None and self._packed[0] == tag

    def packed(self, last_arg: int) -> list[bytes]:
        """Each chunk's EVALSHA as RESP, ``last_arg`` appended to what was prepared, then the
        ``then`` calls."""
        assert self._packed is not None, "prepare() first"
        last = _bulk(b"%d" % last_arg)
        chunks = [b"*%d\r\n%s%s" % (count, body, last) for count, body in self._packed[1]]
        return chunks + self._then

    def call(self, last_arg: int) -> list[Any]:
        """Each chunk's reply, in order, then each ``then`` call's (one round trip; three when
        the server has to load the scripts first)."""
        chunks = self.packed(last_arg)
        packed = b"".join(chunks)
        try:
            return self._send(packed, len(chunks))
        except redis.exceptions.NoScriptError:
            for script in dict.fromkeys([self.script, *self._then_scripts]):
                self.client.script_load(script)
            return self._send(packed, len(chunks))

    def _send(self, packed: bytes, count: int) -> list[Any]:
        pool = self.client.connection_pool
        for attempt in (1, 2):
            conn = pool.get_connection()
            try:
                conn.send_packed_command([packed])  # type: ignore[no-untyped-call]
                return _replies(conn, count)
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


def sha1(script: str) -> str:
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


def _evalsha(sha: str, keys_: Sequence[str], args: Sequence[str | int]) -> list[bytes]:
    parts = [b"EVALSHA", sha.encode(), b"%d" % len(keys_)]
    parts += [k.encode() for k in keys_]
    return parts + [str(a).encode() for a in args]


def _replies(conn: Any, count: int) -> list[Any]:
    """``count`` replies; an error reply is raised once all are read, so the connection is left
    with nothing pending."""
    replies: list[Any] = []
    error: redis.ResponseError | None = None
    for _ in range(count):
        try:
            replies.append(conn.read_response())
        except redis.ResponseError as exc:
            error = error or exc
            replies.append(None)
    if error is not None:
        raise error
    return replies
