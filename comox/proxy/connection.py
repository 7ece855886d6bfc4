"""One keep-alive connection to an engine, parsed with llhttp.

An exchange is: `send()` the request, await `head`, then either await `body()` (buffered) or
`attach()` a sink that receives each read's body bytes as soon as they arrive, then await
`done`. Bytes read in one `data_received` call reach the sink in one call, so a streamed
answer costs one client write per upstream read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httptools

from comox.proxy.usage import SSE_SEP, USAGE_MARK, StreamTap


class UpstreamClosed(ConnectionError):
    """The engine closed the connection before the answer was complete."""


class UpstreamTimeout(TimeoutError):
    """The engine sent nothing for longer than the read timeout."""


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, read_timeout: float) -> None:
        self.loop = self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpResponseParser(self)
        self.read_timeout = read_timeout
        self.transport: asyncio.Transport | None = None
        self.deadline = 0.0
        self.idle_since = 0.0
        self.reused = False
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.keep_alive = True
        self.head: asyncio.Future = self._loop.create_future()
        self.done: asyncio.Future = self._loop.create_future()
        self._parts: list[bytes] = []
        self._sink: Callable[[bytes], None] | None = None
        self._tap: StreamTap | None = None
        self._busy = False
        self._got_bytes = False
        self.sent_at = 0.0
        self.first_body_at = 0.0
        """When the first answer byte arrived: time to first token, for streams."""

    # ---- exchange API -----------------------------------------------------------------
    @property
    def usable(self) -> bool:
        return self.transport is not None and not self._busy and not self.transport.is_closing()

    def send(self, data: bytes) -> None:
        if self.head.done():
            self.head = self._loop.create_future()
            self.done = self._loop.create_future()
        self._parts = []
        self._sink = None
        self._tap = None
        self._busy = True
        self._got_bytes = False
        self.status = 0
        self.headers = {}
        self.sent_at = self._loop.time()
        self.first_body_at = 0.0
        self.deadline = self.sent_at + self.read_timeout
        self.transport.write(data)

    @property
    def got_bytes(self) -> bool:
        """Whether the engine answered anything at all (a stale pooled socket answers nothing)."""
        return self._got_bytes

    def attach(self, sink: Callable[[bytes], None], tap: StreamTap | None = None) -> None:
        """Forward body bytes to `sink` from now on; what already arrived goes first.

        With a usage `tap`, reads go through it only when they may hold or complete its event;
        the common read (whole events, no usage) goes straight to `sink`, the tap's own output,
        saving a Python call per read of a stream."""
        self._tap = tap
        self._sink = sink
        if self._parts:
            self._deliver(b"".join(self._parts))
            self._parts = []

    def _deliver(self, data: bytes) -> None:
        tap = self._tap
        # the tap's fast path, inlined: whole events, none with usage, nothing held back
        if tap is None or (not tap.partial and data.endswith(SSE_SEP) and data.rfind(USAGE_MARK) == -1):
            self._sink(data)
        else:
            tap(data)

    async def body(self) -> bytes:
        await self.done
        body = b"".join(self._parts)
        self._parts = []
        return body

    def pause(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def abort(self) -> None:
        """Drop the connection now: the engine sees the client leave and stops generating."""
        self._busy = True
        if self.transport is not None:
            self.transport.abort()

    # ---- transport events -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._parser = None  # type: ignore[assignment]  # it holds our callbacks: a cycle otherwise
        self.transport = None
        self.deadline = 0.0
        if self._busy:
            error = UpstreamClosed("the engine closed the connection before the answer was complete")
            for fut in (self.head, self.done):
                if not fut.done():
                    fut.set_exception(error)
                    fut.exception()  # mark retrieved: nobody may be waiting on both
        self._busy = True  # never reuse

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        self.deadline = self._loop.time() + self.read_timeout
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamClosed(f"the engine sent a malformed HTTP response: {exc}"))
            return
        if self._sink is not None and self._parts:
            parts, self._parts = self._parts, []
            data = parts[0] if len(parts) == 1 else b"".join(parts)
            tap = self._tap  # _deliver, inlined: this runs for every read of every stream
            if tap is None or (not tap.partial and data.endswith(SSE_SEP) and data.rfind(USAGE_MARK) == -1):
                self._sink(data)
            else:
                tap(data)

    def expire(self) -> None:
        if self._busy and not self.done.done():
            self._fail(UpstreamTimeout(f"the engine sent nothing for {self.read_timeout:g} s"))

    def _fail(self, error: Exception) -> None:
        for fut in (self.head, self.done):
            if not fut.done():
                fut.set_exception(error)
                fut.exception()
        self.abort()

    # ---- parser callbacks ---------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()
        if not self.head.done():
            self.head.set_result(self.status)

    def on_body(self, body: bytes) -> None:
        if not self.first_body_at:
            self.first_body_at = self._loop.time()
        self._parts.append(body)

    def on_message_complete(self) -> None:
        self.deadline = 0.0
        if self._sink is not None and self._parts:
            parts, self._parts = self._parts, []
            self._deliver(b"".join(parts))
        self._busy = False
        if not self.done.done():
            self.done.set_result(None)
