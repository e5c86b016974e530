"""The pre-packed EVALSHAs are byte for byte what redis-py would send. Pure: no Redis."""

from __future__ import annotations

import hashlib

import pytest
import redis
from redis.connection import PythonRespSerializer

from scheduler.autoscaler.script_call import ScriptCall

SCRIPT = "return 1"


def redis_py_packing(*args: object) -> bytes:
    serializer = PythonRespSerializer(
        6000, redis.connection.Encoder("utf-8", "strict", False).encode
    )
    return b"".join(serializer.pack(*args))


@pytest.mark.parametrize(
    "keys",
    [
        ["mail", "mail\x06\x163", "shoal:inflight:mail", "shoal:stats:mail"],
        ["émails", "a b", "日本語", "x" * 7000, ""],
        [],
    ],
)
def test_packed_command_equals_redis_pys(keys: list[str]) -> None:
    call = ScriptCall(redis.Redis(), SCRIPT)  # no connection is made
    call.prepare("tag", [(keys, [4, 2048]), (keys[:1], [4, 2048])])
    sha = hashlib.sha1(SCRIPT.encode()).hexdigest()
    for now_ms in (0, 1_800_000_000_123):
        expected = [
            redis_py_packing("EVALSHA", sha, len(keys), *keys, 4, 2048, now_ms),
            redis_py_packing("EVALSHA", sha, len(keys[:1]), *keys[:1], 4, 2048, now_ms),
        ]
        assert call.packed(now_ms) == expected


def test_prepared_only_for_its_tag() -> None:
    call = ScriptCall(redis.Redis(), SCRIPT)
    assert not call.prepared_for(("a",))
    call.prepare(("a",), [(["a"], [])])
    assert call.prepared_for(("a",)) and not call.prepared_for(("a", "b"))
    with pytest.raises(AssertionError, match="prepare"):
        ScriptCall(redis.Redis(), SCRIPT).packed(1)


def test_calls_that_ride_along_are_packed_whole_after_the_chunks() -> None:
    other = "return 2"
    call = ScriptCall(redis.Redis(), SCRIPT)
    call.prepare("tag", [(["a"], [4])], then=[(other, ["k1", "k2"], ["arg"])])
    sha = hashlib.sha1(SCRIPT.encode()).hexdigest()
    other_sha = hashlib.sha1(other.encode()).hexdigest()
    assert call.packed(7) == [
        redis_py_packing("EVALSHA", sha, 1, "a", 4, 7),
        redis_py_packing("EVALSHA", other_sha, 2, "k1", "k2", "arg"),
    ]
    call.prepare("other tag", [(["a"], [4])])  # prepared again: nothing rides along any more
    assert call.packed(7) == [redis_py_packing("EVALSHA", sha, 1, "a", 4, 7)]
