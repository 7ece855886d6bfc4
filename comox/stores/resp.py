"""A small pipelined Redis client for the request path: commands encoded here, replies parsed
by hiredis, matched to their callers in order on one connection.

The rate limiter sends a script call or two per request. Through redis-py's asyncio pipeline
each costs tens of microseconds of Python (packing every argument through its encoder, the
pipeline, retry and connection-pool layers), more than the gateway spends on the rest of the
request. Here a command is one `b"".join`, a batch one write, and a reply one `gets()` from
hiredis, the same C parser redis-py uses. Nothing else of Redis is needed on this path.

The connection opens on first use and again after a failure; a batch whose replies do not
come within `timeout` closes it (every waiting caller gets the error), so a hung Redis
cannot hang requests.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from urllib.parse import unquote, urlsplit

import hiredis

Arg = bytes | str | int | float


class RedisUnavailable(ConnectionError):
    """No connection to Redis, or it stopped answering."""


class ReplyError(Exception):
    """Redis answered a command with an error (NOSCRIPT, WRONGTYPE...)."""


def encode(*args: Arg) -> bytes:
    """One command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, bool):
            raise TypeError("booleans have no Redis encoding; pass 0 or 1")
        elif isinstance(arg, int):
            arg = b"%d" % arg
        elif isinstance(arg, float):
            arg = repr(arg).encode()
        parts += (b"$%d\r\n" % len(arg), arg, b"\r\n")
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future] = deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiting = self.waiting
        while True:
            reply = self.reader.gets()
            if reply is False:
                return
            if not waiting:  # a reply nobody asked for: the stream is out of step
                self.fail(RedisUnavailable("Redis sent a reply that was not asked for"))
                return
            future = waiting.popleft()
            if not future.done():
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisUnavailable(f"the connection to Redis was lost: {exc or 'closed'}"))

    def fail(self, error: Exception) -> None:
        self.closed = True
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: a caller may have stopped waiting
        if self.transport is not None:
            self.transport.close()


class RedisConnection:
    """`redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError(f"not a redis:// or rediss:// URL: {parts.scheme}://")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379
        self.tls = parts.scheme == "rediss"
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        path = parts.path.strip("/")
        self.db = int(path) if path else 0
        self.timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future | None = None

    async def _connected(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and not protocol.closed:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        try:
            return await asyncio.shield(self._connecting)
        finally:
            if self._connecting is not None and self._connecting.done():
                self._connecting = None

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        context = ssl.create_default_context() if self.tls else None
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(_Protocol, self.host, self.port, ssl=context), self.timeout
            )
        except (OSError, TimeoutError) as exc:
            raise RedisUnavailable(f"cannot connect to Redis at {self.host}:{self.port}: {exc}") from None
        setup = []
        if self.password is not None:
            setup.append(
                encode("AUTH", self.username, self.password)
                if self.username
                else encode("AUTH", self.password)
            )
        if self.db:
            setup.append(encode("SELECT", self.db))
        if setup:
            for reply in await self._exchange(protocol, setup):
                if isinstance(reply, hiredis.ReplyError):
                    refused = RedisUnavailable(f"Redis refused the connection setup: {reply}")
                    protocol.fail(refused)
                    raise refused
        self._protocol = protocol
        return protocol

    async def _exchange(self, protocol: _Protocol, commands: list[bytes]) -> list:
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        protocol.waiting.extend(futures)
        protocol.transport.write(b"".join(commands))
        try:
            async with asyncio.timeout(self.timeout):
                return [await future for future in futures]
        except TimeoutError:
            protocol.fail(RedisUnavailable(f"Redis did not answer within {self.timeout:g} s"))
            raise RedisUnavailable(f"Redis did not answer within {self.timeout:g} s") from None

    async def execute(self, commands: list[bytes]) -> list:
        """Send encoded commands in one write; their replies in order. An error reply is
        returned as a `hiredis.ReplyError` value, for the caller to judge one by one."""
        return await self._exchange(await self._connected(), commands)

    async def call(self, *args: Arg):
        """One command; an error reply raises `ReplyError`."""
        reply = (await self.execute([encode(*args)]))[0]
        if isinstance(reply, hiredis.ReplyError):
            raise ReplyError(str(reply))
        return reply

    async def aclose(self) -> None:
        if self._protocol is not None:
            self._protocol.fail(RedisUnavailable("the client was closed"))
            self._protocol = None
