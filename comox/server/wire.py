"""Bytes of HTTP/1.1 response heads and chunk framing, built once where possible."""

from __future__ import annotations

from http import HTTPStatus

_STATUS_LINES: dict[int, bytes] = {}

JSON = b"application/json"
SSE = b"text/event-stream"


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        line = f"HTTP/1.1 {status} {reason}\r\n".encode("latin-1")
        _STATUS_LINES[status] = line
    return line


def response_head(
    status: int,
    content_type: bytes,
    length: int | None,
    keep_alive: bool,
    extra: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...] = (),
    request_id: bytes = b"",
    lines: bytes = b"",
) -> bytes:
    """A complete response head: content-length when known, else chunked. `lines` are header
    lines rendered already (`name: value\r\n` each), as stages add them to a call."""
    if length is not None and keep_alive and not extra and request_id:  # the common reply: one format
        return _KEPT_WITH_LENGTH % (status_line(status), content_type, request_id, length, lines)
    parts = [status_line(status), b"content-type: ", content_type, b"\r\n"]
    if request_id:
        parts += (b"x-request-id: ", request_id, b"\r\n")
    if length is None:
        parts.append(b"transfer-encoding: chunked\r\n")
        if content_type == SSE:
            parts.append(b"cache-control: no-cache\r\nx-accel-buffering: no\r\n")
    else:
        parts += (b"content-length: ", str(length).encode(), b"\r\n")
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    for name, value in extra:
        parts += (name, b": ", value, b"\r\n")
    parts += (lines, b"\r\n")
    return b"".join(parts)


_KEPT_WITH_LENGTH = b"%scontent-type: %s\r\nx-request-id: %s\r\ncontent-length: %d\r\n%s\r\n"


def header_line(name: bytes, value: bytes) -> bytes:
    return b"%s: %s\r\n" % (name, value)


def chunk_prefix(size: int) -> bytes:
    return b"%x\r\n" % size


CRLF = b"\r\n"
LAST_CHUNK = b"0\r\n\r\n"
