"""One client connection: HTTP/1.1 parsing with llhttp, limits, timeouts, and replies.

The connection is also the reply channel a handler writes to, so a streamed chunk goes from
the upstream socket to this transport with no queue or task switch in between. One request
is handled at a time: pipelined requests the parser already read wait in order (reading
paused), and bytes that arrive meanwhile wait unparsed, until the reply before them is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import httptools

from comox.server import wire
from comox.server.errors import GatewayError
from comox.server.request import Request
from comox.server.watchdog import Watchdog

log = logging.getLogger("comox.server")

Handler = Callable[[Request, "Connection"], Awaitable[None]]


class ExchangeObserver(Protocol):
    """Sees each exchange's id and its end (access log, request metrics)."""

    def request_id(self, headers: dict[bytes, bytes]) -> bytes: ...

    def finished(self, request: Request | None, status: int, aborted: bool) -> None:
        """The reply is done (or the client left: `aborted`); request is None for one that
        could not even be read (413, 431, malformed)."""


class NoObserver:
    def request_id(self, headers: dict[bytes, bytes]) -> bytes:
        return b""

    def finished(self, request: Request | None, status: int, aborted: bool) -> None:
        pass


NO_OBSERVER = NoObserver()


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_body_bytes: int = 8 * 1024 * 1024
    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keepalive_timeout: float = 75.0


class Connection(asyncio.Protocol):
    """Reads requests, runs the handler for each, and carries its reply back."""

    def __init__(
        self,
        dispatch: Callable[[Request], Handler],
        limits: ConnectionLimits,
        watchdog: Watchdog,
        registry: set[Connection],
        observer: ExchangeObserver = NO_OBSERVER,
    ) -> None:
        self._dispatch = dispatch
        self._observer = observer
        self.request_id = b""
        self.status = 0
        """Status of the reply being sent (0 before its head)."""
        self._limits = limits
        self._watchdog = watchdog
        self._registry = registry
        self.loop = self._loop = asyncio.get_running_loop()
        """Also read by the proxy: asking asyncio for the running loop costs a getpid() call."""
        self._parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.client = ""
        self.deadline = 0.0
        self._phase = "idle"  # idle | head | body | handling
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._head_size = 0
        self._body: list[bytes] = []
        self._body_size = 0
        self._pending = b""
        self._task: asyncio.Task | None = None
        self._queued: deque[Request] = deque()
        """Pipelined requests read in the same bytes as the one being answered, in order."""
        self._head_only = False
        self._keep_alive = True
        self.draining = False
        self.headers_sent = False
        self._streaming = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future | None = None
        self._on_pause: Callable[[], None] | None = None
        self._on_resume: Callable[[], None] | None = None

    # ---- transport events -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.client = peer[0] if peer else ""
        self._registry.add(self)
        self.deadline = self._loop.time() + self._limits.header_timeout
        self._watchdog.watch(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._parser = None  # type: ignore[assignment]  # it holds our callbacks: a cycle otherwise
        self._registry.discard(self)
        self._watchdog.unwatch(self)
        self.transport = None
        if self._task is not None and not self._task.done():
            self._task.cancel()  # the client left: stop upstream work at once
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_exception(ConnectionResetError("client disconnected"))

    def eof_received(self) -> bool:
        return False  # a half-closed client gets no reply; close and cancel its work

    def data_received(self, data: bytes) -> None:
        if self._phase == "lingering":
            return
        if self._phase == "handling":
            self._pending += data
            self.transport.pause_reading()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(GatewayError(400, "Protocol upgrades are not supported.", code="upgrade_unsupported"))
        except httptools.HttpParserError as exc:
            if not isinstance(exc.__context__, _Refused):
                self._fail(GatewayError(400, f"Malformed HTTP request: {exc}.", code="bad_http"))
        except _Refused:
            pass

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._on_pause is not None:
            self._on_pause()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._on_resume is not None:
            self._on_resume()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def expire(self) -> None:
        if self._phase in ("idle", "lingering"):
            self._close()
        elif self._phase in ("head", "body"):
            what = "headers" if self._phase == "head" else "body"
            self._fail(
                GatewayError(408, f"Timed out waiting for the request {what}.", code="request_timeout")
            )

    # ---- parser callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._phase = "head"
        self.deadline = self._loop.time() + self._limits.header_timeout
        self._url = b""
        self._headers = {}
        self._head_size = 0
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        if self._head_size > self._limits.max_header_bytes:
            self._head_too_large()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value
        self._head_size += len(name) + len(value)
        if self._head_size > self._limits.max_header_bytes:
            self._head_too_large()

    def _head_too_large(self) -> None:
        self._fail(
            GatewayError(
                431,
                f"Request line and headers exceed {self._limits.max_header_bytes} bytes.",
                code="headers_too_large",
            )
        )
        raise _Refused

    def on_headers_complete(self) -> None:
        self._phase = "body"
        self.deadline = self._loop.time() + self._limits.body_timeout
        length = self._headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self._limits.max_body_bytes:
            self._fail(self._too_large())
            raise _Refused
        if self._headers.get(b"expect", b"").lower() == b"100-continue":
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._limits.max_body_bytes:
            self._fail(self._too_large())
            raise _Refused
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._phase = "handling"
        self.deadline = 0.0
        path, _, query = self._url.partition(b"?")
        request = Request(
            method=self._parser.get_method(),
            path=path,
            query=query,
            headers=self._headers,
            body=b"".join(self._body) if len(self._body) != 1 else self._body[0],
            client=self.client,
            started=self._loop.time(),
            keep_alive=self._parser.should_keep_alive(),
        )
        self._body = []
        if self._task is not None:  # pipelined behind a request still being answered
            self._queued.append(request)
            self.transport.pause_reading()
            return
        self._start(request)

    def _start(self, request: Request) -> None:
        self._keep_alive = request.keep_alive
        self._head_only = request.method == b"HEAD"
        self.headers_sent = False
        self._streaming = False
        self.status = 0
        request.id = self.request_id = self._observer.request_id(request.headers)
        self._task = self._loop.create_task(self._run(self._dispatch(request), request))

    def _too_large(self) -> GatewayError:
        return GatewayError(
            413,
            f"Request body exceeds the limit of {self._limits.max_body_bytes} bytes.",
            code="request_too_large",
        )

    # ---- running a handler ------------------------------------------------------------
    async def _run(self, handler: Handler, request: Request) -> None:
        try:
            await handler(request, self)
        except GatewayError as exc:
            # the call keeps its error (audit, metrics) and the traceback's frames keep the call:
            # without this, every refused request is a cycle left to the cyclic GC
            exc.__traceback__ = exc.__context__ = exc.__cause__ = None
            self.fail_reply(exc)
        except asyncio.CancelledError:
            self._observer.finished(request, self.status or 499, True)
            return
        except ConnectionError:
            self._observer.finished(request, self.status or 499, True)
            self._close()
            return
        except Exception:
            log.exception("unhandled error in %s %s", request.method.decode(), request.path.decode())
            self.fail_reply(GatewayError(500, "Internal gateway error; it has been logged.", code="internal"))
        self._observer.finished(request, self.status, False)
        self._task = None
        self._finish()

    def fail_reply(self, exc: GatewayError) -> None:
        """Reply with an error: a JSON response before the head, an SSE error event after it."""
        if self.transport is None:
            return
        if not self.headers_sent:
            self.send(exc.status, exc.body(), extra=exc.headers)
        elif self._streaming:
            self.write(exc.sse_event())
            self.end_stream()
        else:
            self._keep_alive = False

    def _finish(self) -> None:
        if self.transport is None:
            return
        if not self._keep_alive or self.draining:
            self._close()
            return
        if self._queued:
            self._phase = "handling"
            self._start(self._queued.popleft())
            if not self._queued:
                self.transport.resume_reading()
            return
        self._phase = "idle"
        self.deadline = self._loop.time() + self._limits.keepalive_timeout
        if self._pending:
            data, self._pending = self._pending, b""
            self.transport.resume_reading()
            self.data_received(data)

    def _fail(self, exc: GatewayError) -> None:
        """Refuse a request that could not be read, then close: its framing is unknown.

        The close lingers: we stop sending but read and drop what the client still sends
        for a moment, since closing with unread bytes makes the kernel reset the connection
        and the client could lose the error before reading it.
        """
        self._keep_alive = False
        if self.transport is None:
            return
        if not self.headers_sent:
            self.request_id = self._observer.request_id(self._headers)
            self.send(exc.status, exc.body(), extra=exc.headers)
            self._observer.finished(None, exc.status, False)
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self._phase = "lingering"
            self.deadline = self._loop.time() + 2.0
        else:
            self._close()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # ---- the reply channel --------------------------------------------------------------
    @property
    def open(self) -> bool:
        return self.transport is not None

    @property
    def handling(self) -> bool:
        """A request is being handled (read at scrape time for the in-flight gauge)."""
        return self._phase == "handling"

    @property
    def streaming(self) -> bool:
        return self._streaming

    def loop_time(self) -> float:
        return self._loop.time()

    def send(
        self,
        status: int,
        body: bytes,
        content_type: bytes = wire.JSON,
        extra: tuple[tuple[bytes, bytes], ...] | list[tuple[bytes, bytes]] = (),
        lines: bytes = b"",
    ) -> None:
        """A whole response with a known length (`lines`: header lines rendered already)."""
        if self.transport is None:
            return
        keep = self._keep_alive and not self.draining
        self.headers_sent = True
        self.status = status
        head = wire.response_head(status, content_type, len(body), keep, extra, self.request_id, lines)
        self.transport.write(head if self._head_only else head + body)  # HEAD: the length, no body
        self._keep_alive = keep

    def start_stream(
        self,
        status: int,
        content_type: bytes = wire.SSE,
        extra: tuple[tuple[bytes, bytes], ...] | list[tuple[bytes, bytes]] = (),
        lines: bytes = b"",
    ) -> None:
        """Send a chunked head; `write` then sends each piece as it comes."""
        keep = self._keep_alive and not self.draining
        self.headers_sent = True
        self._streaming = True
        self._keep_alive = keep
        self.status = status
        if self.transport is not None:
            self.transport.write(
                wire.response_head(status, content_type, None, keep, extra, self.request_id, lines)
            )

    def write(self, data: bytes) -> None:
        if self.transport is not None and data:
            self.transport.writelines((wire.chunk_prefix(len(data)), data, wire.CRLF))

    def end_stream(self) -> None:
        if self.transport is not None and self._streaming:
            self.transport.write(wire.LAST_CHUNK)
        self._streaming = False

    async def drain(self) -> None:
        """Wait until the client has taken what was written (flow control for slow readers)."""
        if not self._write_paused:
            return
        if self.transport is None:
            raise ConnectionResetError("client disconnected")
        self._drain_waiter = self._loop.create_future()
        await self._drain_waiter

    def on_backpressure(self, pause: Callable[[], None] | None, resume: Callable[[], None] | None) -> None:
        """Let a stream's source stop reading while the client is slow to take bytes."""
        self._on_pause, self._on_resume = pause, resume
        if pause is not None and self._write_paused:
            pause()

    def shutdown(self) -> None:
        """Graceful stop: idle connections close now, busy ones after their reply."""
        self.draining = True
        if self._phase == "idle":
            self._close()


class _Refused(Exception):
    """Raised from a parser callback to stop parsing after the refusal was sent."""
