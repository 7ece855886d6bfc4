"""HTTP/1.1 server side of the fake engine: httptools parsing, keep-alive, chunked streaming.

One HttpConnection per TCP connection. Requests on a connection are answered one at a time, in
order (pipelined requests wait in a short bounded queue). A handler receives (Request, Responder).
When the peer goes away while a request is in flight, Responder.on_disconnect is called at once
and the handler task is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import cast

import httptools

log = logging.getLogger("comox.testing.fake_engine")


@dataclass(frozen=True)
class HttpLimits:
    """Bounds on what one connection may buffer."""

    max_url: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    max_body: int = 16 * 1024 * 1024
    max_pipelined: int = 4


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lowercased names; repeated headers joined with ", "
    body: bytes
    keep_alive: bool


Handler = Callable[[Request, "Responder"], Awaitable[None]]


class _Halt(Exception):
    """Raised from a parser callback to stop parsing after the request was rejected."""


def render_head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1", "replace")


class Responder:
    """Writes the response to one request: send() once, or start_stream(), write_chunk()..., end_stream()."""

    def __init__(self, conn: HttpConnection, keep_alive: bool) -> None:
        self._conn = conn
        self.close_connection = not keep_alive
        """Send "connection: close" and close once the response is complete."""
        self.on_disconnect: Callable[[], None] | None = None
        """Called when the peer drops the connection before the response is complete."""
        self.started = False
        self.done = False

    def send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        fields = [("content-type", content_type), ("content-length", str(len(body))), *headers]
        self._conn.write(render_head(status, fields + self._common()) + body)
        self.started = True
        self._complete()

    def start_stream(self, status: int = 200, content_type: str = "text/event-stream; charset=utf-8") -> None:
        fields = [
            ("content-type", content_type),
            ("cache-control", "no-cache"),
            ("transfer-encoding", "chunked"),
        ]
        self._conn.write(render_head(status, fields + self._common()))
        self.started = True

    def write_chunk(self, data: bytes) -> None:
        if data:
            self._conn.write(b"%x\r\n%s\r\n" % (len(data), data))

    def end_stream(self) -> None:
        self._conn.write(b"0\r\n\r\n")
        self._complete()

    async def drain(self) -> None:
        """Wait while the connection's write buffer is above its high-water mark."""
        await self._conn.drain()

    async def flush(self) -> None:
        """Wait until everything written so far has been handed to the kernel."""
        await self._conn.flush()

    def abort(self) -> None:
        """Drop the connection at once (no terminating chunk, buffered data discarded)."""
        self.done = True
        self._conn.abort()

    def _common(self) -> list[tuple[str, str]]:
        close = [("connection", "close")] if self.close_connection else []
        return [*self._conn.server_headers, *close]

    def _complete(self) -> None:
        self.done = True
        if self.close_connection:
            self._conn.close()


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 server connection."""

    def __init__(
        self,
        handler: Handler,
        registry: set[HttpConnection],
        server_headers: Iterable[tuple[str, str]] = (),
        limits: HttpLimits = HttpLimits(),
    ) -> None:
        self._handler = handler
        self._registry = registry
        self.server_headers = tuple(server_headers)
        self._limits = limits
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._closing = False
        self._queue: deque[Request] = deque()
        self._task: asyncio.Task[None] | None = None
        self._responder: Responder | None = None
        self._paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._reset_message()

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._registry.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._registry.discard(self)
        self._queue.clear()
        responder = self._responder
        if responder is not None and not responder.done and responder.on_disconnect is not None:
            responder.on_disconnect()
        if self._task is not None:
            self._task.cancel()
        self._wake_drain()

    def eof_received(self) -> bool:
        return False  # a half-closed client is gone: close, which cancels any request in flight

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(400, "protocol upgrades are not supported")
        except httptools.HttpParserError:
            self._reject(400, "malformed HTTP request")

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_drain()

    # --- httptools callbacks ---

    def on_message_begin(self) -> None:
        self._reset_message()

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._limits.max_url:
            self._halt(414, "request URL too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if (
            self._header_bytes > self._limits.max_header_bytes
            or len(self._headers) >= self._limits.max_headers
        ):
            self._halt(431, "request header fields too large")
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_headers_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()
        if self._headers.get("expect", "").lower() == "100-continue" and self._task is None:
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._limits.max_body:
            self._halt(413, "request body too large")
        self._body.append(body)

    def on_message_complete(self) -> None:
        if len(self._queue) >= self._limits.max_pipelined:
            self._halt(429, "too many pipelined requests")
        try:
            url = httptools.parse_url(self._url)
        except httptools.HttpParserInvalidURLError:
            self._halt(400, "invalid request URL")
        request = Request(
            method=self._parser.get_method().decode("latin-1"),
            path=url.path.decode("latin-1"),
            query=(url.query or b"").decode("latin-1"),
            headers=self._headers,
            body=b"".join(self._body),
            keep_alive=self._keep_alive,
        )
        self._reset_message()
        self._queue.append(request)
        self._start_next()

    # --- writing, used by Responder ---

    def write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    async def drain(self) -> None:
        if self._paused and self._transport is not None and not self._transport.is_closing():
            self._drain_waiter = asyncio.get_running_loop().create_future()
            await self._drain_waiter

    async def flush(self) -> None:
        if self._transport is not None and self._transport.get_write_buffer_size():
            self._transport.set_write_buffer_limits(high=0)  # pauses us until the buffer is empty
            await self.drain()

    def close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    # --- internals ---

    def _reset_message(self) -> None:
        self._url = b""
        self._headers: dict[str, str] = {}
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_size = 0
        self._keep_alive = True

    def _halt(self, status: int, message: str) -> None:
        self._reject(status, message)
        raise _Halt(message)

    def _reject(self, status: int, message: str) -> None:
        """Answer a request we cannot parse or accept, then close (a response in flight is dropped)."""
        if self._closing:
            return
        if self._task is None:
            head = [
                ("content-type", "text/plain"),
                ("content-length", str(len(message))),
                ("connection", "close"),
            ]
            self.write(render_head(status, head) + message.encode())
        self.close()

    def _start_next(self) -> None:
        if self._task is not None or self._closing or not self._queue:
            return
        request = self._queue.popleft()
        self._responder = Responder(self, request.keep_alive)
        self._task = asyncio.get_running_loop().create_task(self._run(request, self._responder))
        self._task.add_done_callback(self._on_done)

    async def _run(self, request: Request, responder: Responder) -> None:
        try:
            await self._handler(request, responder)
        except Exception:
            log.exception("fake engine: handler failed for %s %s", request.method, request.path)
            if not responder.started:
                responder.close_connection = True
                responder.send(500, b'{"error":{"message":"internal error in the fake engine"}}')
        if not responder.done:
            responder.abort()

    def _on_done(self, task: asyncio.Task[None]) -> None:
        self._task = None
        self._responder = None
        self._start_next()

    def _wake_drain(self) -> None:
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
