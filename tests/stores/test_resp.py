"""The request path's small Redis client against a real Redis: encoding, pipelining, the
database and errors from the URL, reconnection, and a Redis that stops answering."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest
import redis.asyncio as redis

from comox.policy.auth import KeyTable
from comox.policy.keys import KeyRecord, Limits
from comox.policy.limiter import LimitStage
from comox.stores.redis_counters import RedisCounters
from comox.stores.resp import RedisConnection, RedisUnavailable, ReplyError, encode
from comox.testing.databases import REDIS_URL
from tests.policy.test_limiter import call_for


def test_commands_are_encoded_as_resp_arrays_of_bulk_strings() -> None:
    assert encode("SET", b"k\r\n", 12, 0.5) == b"*4\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n12\r\n$3\r\n0.5\r\n"
    with pytest.raises(TypeError):
        encode("SET", "k", True)


def test_pipelined_commands_get_their_own_replies_in_the_chosen_database() -> None:
    key = f"comox-test:resp:{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        conn = RedisConnection(REDIS_URL.rsplit("/", 1)[0] + "/15")
        other = redis.from_url(REDIS_URL.rsplit("/", 1)[0] + "/15")
        try:
            replies = await conn.execute(
                [encode("SET", key, b"\x00binary\xff"), encode("INCR", key), encode("GET", key)]
            )
            assert replies[0] == b"OK" and replies[2] == b"\x00binary\xff"
            assert "not an integer" in str(replies[1])  # an error reply, returned in its place
            with pytest.raises(ReplyError):
                await conn.call("INCR", key)
            assert await other.get(key) == b"\x00binary\xff"  # database 15, as the URL says
            many = await asyncio.gather(*(conn.call("ECHO", str(i)) for i in range(200)))
            assert many == [str(i).encode() for i in range(200)]
        finally:
            await other.delete(key)
            await other.aclose()
            await conn.aclose()

    asyncio.run(scenario())


def test_a_lost_connection_fails_its_callers_and_the_next_call_reconnects() -> None:
    async def scenario() -> None:
        conn = RedisConnection(REDIS_URL)
        killer = redis.from_url(REDIS_URL)
        try:
            ident = await conn.call("CLIENT", "ID")
            await killer.execute_command("CLIENT", "KILL", "ID", ident)
            await asyncio.sleep(0.05)
            assert await conn.call("PING") == b"PONG"  # a new connection, transparently
        finally:
            await killer.aclose()
            await conn.aclose()

    asyncio.run(scenario())


def test_a_redis_that_stops_answering_fails_calls_after_the_timeout() -> None:
    """A listener that accepts and never answers: calls fail within the timeout, and the
    limits stage lets the request through (counted) instead of hanging it."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]

    async def scenario() -> None:
        conn = RedisConnection(f"redis://127.0.0.1:{port}/0", timeout=0.3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RedisUnavailable):
            await conn.call("PING")
        assert loop.time() - started < 1.5
        table = KeyTable()
        table.replace([], [], 1)
        stage = LimitStage(RedisCounters(conn, "comox-test:"), table, clock=lambda: 1_700_000_000.0)
        key = KeyRecord(id="key_1", tenant="acme", hash="h", created_at=0.0, limits=Limits(rpm=5))
        await stage.admit(call_for(key))
        assert stage.stats.backend_errors == 1
        await conn.aclose()

    try:
        asyncio.run(scenario())
    finally:
        silent.close()


def test_nothing_listening_is_unavailable_at_once() -> None:
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()

    async def scenario() -> None:
        conn = RedisConnection(f"redis://127.0.0.1:{port}", timeout=2.0)
        with pytest.raises(RedisUnavailable, match="cannot connect"):
            await conn.call("PING")

    asyncio.run(scenario())
