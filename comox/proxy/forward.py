"""Send one request to a backend and carry its answer back to the client.

Streams are passed through as the engine sends them: each read from the engine is written
to the client as one chunk, never parsed or re-encoded, and a slow client pauses reading
from the engine instead of growing a buffer. A client that leaves aborts the engine
connection at once, so the engine stops generating.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

import orjson

from comox.api.call import AnswerFilter, Call, complete
from comox.proxy.connection import UpstreamClosed, UpstreamConnection, UpstreamTimeout
from comox.proxy.usage import StreamTap, usage_of
from comox.routing.backend import Backend
from comox.server import wire
from comox.server.connection import Connection
from comox.server.errors import GatewayError


def request_bytes(backend: Backend, method: bytes, path: bytes, body: bytes, extra: bytes = b"") -> bytes:
    """The engine request; `extra` is header lines of this call (request id, trace context)."""
    if backend.strip_request_id and extra:
        extra = without_request_id(extra)
    return b"".join(
        (
            method,
            b" ",
            backend.base_path,
            path,
            b" HTTP/1.1\r\n",
            backend.fixed_headers,
            extra,
            b"content-length: %d\r\n\r\n" % len(body),
            body,
        )
    )


def without_request_id(headers: bytes) -> bytes:
    """Header lines less the `x-request-id` one the gateway wrote (lowercase, one line)."""
    start = headers.find(b"x-request-id: ")
    if start < 0:
        return headers
    return headers[:start] + headers[headers.index(b"\r\n", start) + 2 :]


async def open_exchange(backend: Backend, data: bytes) -> UpstreamConnection:
    """Send `data` and wait for the response head; 502/504 when the engine cannot answer.

    A pooled connection the engine closed while idle fails without a byte of answer: that
    one case is retried once on a fresh connection, since the engine never saw the request.
    """
    pool = backend.pool
    try:
        conn = pool.take() or await pool.connect()
    except OSError as exc:
        if exc.errno in _LOCAL_EXHAUSTION:
            raise _overloaded(exc) from None
        raise _unreachable(backend, exc) from None
    except TimeoutError as exc:
        raise _unreachable(backend, exc) from None
    for attempt in (1, 2):
        try:
            conn.send(data)
            await conn.head
            return conn
        except UpstreamClosed as exc:
            pool.discard(conn)
            if attempt == 1 and conn.reused and not conn.got_bytes:
                try:
                    conn = await pool.connect()
                except (OSError, TimeoutError) as err:
                    raise _unreachable(backend, err) from None
                continue
            raise _unreachable(backend, exc) from None
        except UpstreamTimeout as exc:
            pool.discard(conn)
            raise _timed_out(backend, exc) from None
        except BaseException:
            conn.abort()
            pool.discard(conn)
            raise
    raise AssertionError("unreachable")


async def relay(reply: Connection, call: Call, backend: Backend, conn: UpstreamConnection) -> None:
    """Write the answer whose head `conn` has received to the client, streamed or whole.

    From here on bytes may reach the client, so nothing is retried: a failure mid-stream
    becomes an SSE error event (raised as `GatewayError` for the connection to render).
    """
    call.backend = backend.name
    call.status = conn.status
    call.first_byte_at = reply.loop_time()
    lines = b"%sx-comox-attempts: %d\r\n%s" % (backend.header, call.attempts, call.response_headers)
    try:
        ctype = conn.headers.get(b"content-type", wire.JSON)
        if conn.status == 200 and ctype.startswith(wire.SSE):
            await _stream(reply, call, conn, lines)
        else:
            answer = await conn.body()
            status = conn.status
            if status >= 400:
                status, answer = engine_error(call, backend, status, answer)
                ctype = wire.JSON
            else:
                answer = _whole(call, answer)
            call.status = status
            if call.before_complete:
                await complete(call)
            reply.send(status, answer, ctype, lines=lines)
    except (UpstreamClosed, UpstreamTimeout) as exc:
        backend.pool.discard(conn)
        raise upstream_error(backend, exc) from None
    except BaseException:
        conn.abort()
        backend.pool.discard(conn)
        raise
    backend.pool.release(conn)


def _whole(call: Call, answer: bytes) -> bytes:
    """A whole answer through the same steps a stream takes (see `_stream`)."""
    if call.engine_codec is not None:
        answer = call.engine_codec.whole(answer)
    if call.want_usage:
        call.usage = usage_of(answer)
    if call.answer_filter is not None:
        answer = call.answer_filter.whole(answer)
    for tap in call.chat_taps:
        tap(answer)
    if call.client_codec is not None:
        answer = call.client_codec.whole(answer)
    for tap in call.answer_taps:
        tap(answer)
    return answer


async def _stream(reply: Connection, call: Call, conn: UpstreamConnection, lines: bytes) -> None:
    """Engine bytes -> engine codec (to chat) -> usage tap -> answer filter -> client codec
    (to the client's family) -> answer taps -> client. Each step that is not needed is absent.
    Codecs are flushed only when the engine finished: after a failure the error event the
    connection writes ends the stream instead of a normal ending."""
    reply.start_stream(200, wire.SSE, lines=lines)
    reply.on_backpressure(conn.pause, conn.resume)
    to_client = _tapped(call, reply)
    if call.client_codec is not None:
        to_client = _through(call.client_codec, to_client)
    if call.chat_taps:
        to_client = _seen_by(call.chat_taps, to_client)
    write = to_client if call.answer_filter is None else _through(call.answer_filter, to_client)
    tap = StreamTap(write, call.strip_usage) if call.want_usage else None
    sink = tap or write
    engine_codec = call.engine_codec
    finished = False
    try:
        if engine_codec is None:
            conn.attach(write, tap) if tap is not None else conn.attach(write)
        else:
            conn.attach(_through(engine_codec, sink))
        await conn.done
        finished = True
    finally:
        call.first_token_at = conn.first_body_at
        reply.on_backpressure(None, None)
        if finished and engine_codec is not None:
            rest = engine_codec.flush()
            if rest:
                sink(rest)
        if tap is not None:
            tap.flush()
            call.usage = tap.usage
        if call.answer_filter is not None:
            rest = call.answer_filter.flush()
            if rest:
                to_client(rest)
        if finished and call.client_codec is not None:
            rest = call.client_codec.flush()
            if rest:
                _tapped(call, reply)(rest)
    if call.before_complete:
        await complete(call)
    reply.end_stream()


def _through(answer_filter: AnswerFilter, sink: Callable[[bytes], None]) -> Callable[[bytes], None]:
    def filtered(data: bytes) -> None:
        data = answer_filter.feed(data)
        if data:
            sink(data)

    return filtered


def _seen_by(
    taps: tuple[Callable[[bytes], None], ...], sink: Callable[[bytes], None]
) -> Callable[[bytes], None]:
    def seen(data: bytes) -> None:
        for tap in taps:
            tap(data)
        sink(data)

    return seen


def _tapped(call: Call, reply: Connection) -> Callable[[bytes], None]:
    return _seen_by(call.answer_taps, reply.write) if call.answer_taps else reply.write


_OPENAI_STATUS = {529: 503}
"""Anthropic's "overloaded" has no place in OpenAI's statuses; 503 is what its clients retry."""


def engine_error(call: Call, backend: Backend, status: int, body: bytes) -> tuple[int, bytes]:
    """An engine's error answer as the client's API family writes it, with the fitting status."""
    if call.front is None and not backend.adapter.translates:
        return status, error_body(backend, status, body)
    exc = backend.adapter.error(backend.name, status, body)
    if call.front is None:
        exc.status = _OPENAI_STATUS.get(exc.status, exc.status)
    else:
        exc.shape = call.front.error_shape
    return exc.status, exc.body()


def error_body(backend: Backend, status: int, body: bytes) -> bytes:
    """Engine errors pass through when OpenAI-shaped; anything else is wrapped so it is."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        return body
    detail = body[:300].decode("utf-8", "replace").strip()
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        detail = parsed["error"]
    message = f"Backend '{backend.name}' answered {status}" + (f": {detail}" if detail else ".")
    return GatewayError(status, message, code="upstream_error").body()


_LOCAL_EXHAUSTION = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EADDRNOTAVAIL})
OVERLOADED = "gateway_overloaded"


def _overloaded(exc: OSError) -> GatewayError:
    """The gateway itself is out of sockets or descriptors: not the backend's fault."""
    return GatewayError(
        503,
        f"The gateway is out of connection resources ({exc.strerror}); retry shortly.",
        code=OVERLOADED,
        headers=((b"retry-after", b"1"),),
    )


def _unreachable(backend: Backend, exc: BaseException) -> GatewayError:
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError) and not isinstance(exc, UpstreamTimeout):
        return GatewayError(
            504,
            f"Backend '{backend.name}' did not accept a connection within "
            f"{backend.pool.config.connect_timeout:g} s.",
            code="upstream_connect_timeout",
        )
    return GatewayError(
        502, f"Backend '{backend.name}' is unreachable: {reason}.", code="upstream_unreachable"
    )


def upstream_error(backend: Backend, exc: BaseException) -> GatewayError:
    if isinstance(exc, UpstreamTimeout):
        return _timed_out(backend, exc)
    return _unreachable(backend, exc)


def _timed_out(backend: Backend, exc: BaseException) -> GatewayError:
    return GatewayError(504, f"Backend '{backend.name}' timed out: {exc}.", code="upstream_timeout")
