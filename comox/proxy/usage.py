"""Token usage read from an answer in passing, streamed or whole.

A stream is scanned, not parsed: each read is searched for the bytes `"usage"`, and only
the event that holds them is decoded. When the gateway itself asked the engine for the
usage event (`stream_options.include_usage`) and the client did not, that event is cut
out of the client's stream; to cut it cleanly an incomplete trailing event is held back
until its end arrives, which engines, writing whole events, almost never cause.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

USAGE_MARK = _MARK = b'"usage"'
SSE_SEP = _SEP = b"\n\n"
_MAX_PARTIAL = 1 << 20


def usage_of(body: bytes) -> dict | None:
    """The `usage` object of a whole JSON answer, if it has one.

    Only the object itself is decoded: engines write it last, so it is found from the end
    and cut at the first closing brace that balances it. Anything unusual (the mark inside a
    string, a null usage, a long nesting) falls back to decoding the whole answer.
    """
    at = body.rfind(_MARK)
    if at == -1:
        return None
    tail = body[at + 7 :]  # 7: len(_MARK)
    if tail[:2] == b":{" and tail[-2:] == b"}}":  # the common shape: compact, usage the last member
        try:
            usage = orjson.loads(tail[1:-1])
        except orjson.JSONDecodeError:
            usage = None
        if type(usage) is dict:
            return usage
    after = at + len(_MARK)
    start = body.find(b"{", after, after + 16)
    if start != -1 and body[at - 1] != 0x5C and body[after:start].strip() == b":":  # 0x5C: an escaped quote
        end = body.find(b"}", start)
        for _ in range(4):  # each nested object (token details) closes one brace early
            if end == -1:
                break
            try:
                usage = orjson.loads(body[start : end + 1])
            except orjson.JSONDecodeError:
                end = body.find(b"}", end + 1)
                continue
            return usage if isinstance(usage, dict) else None
    return _whole_usage(body)


def _whole_usage(body: bytes) -> dict | None:
    try:
        usage = orjson.loads(body).get("usage")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return usage if isinstance(usage, dict) else None


class StreamTap:
    """Passes SSE bytes to `write`, noting the usage event and optionally removing it."""

    __slots__ = ("_write", "partial", "strip", "usage")

    def __init__(self, write: Callable[[bytes], None], strip: bool) -> None:
        self._write = write
        self.partial = b""
        """Bytes held back; while there are none, a read of whole events without usage can
        bypass the tap (the connection makes that check inline, once per read)."""
        self.strip = strip
        self.usage: dict | None = None

    def __call__(self, data: bytes) -> None:
        if not self.partial and data.endswith(_SEP) and data.rfind(_MARK) == -1:
            self._write(data)  # the common read: whole events, none with usage
            return
        if not self.strip:
            self._write(data)  # untouched and at once; the scan below only reads
        buf = self.partial + data if self.partial else data
        end = buf.rfind(_SEP) + len(_SEP)
        if end < len(_SEP):
            end = 0
        complete, self.partial = (buf, b"") if end == len(buf) else (buf[:end], buf[end:])
        if len(self.partial) > _MAX_PARTIAL:  # not SSE as we know it: stop holding bytes
            complete, self.partial = buf, b""
        complete = self._scan(complete)
        if self.strip and complete:
            self._write(complete)

    def _scan(self, data: bytes) -> bytes:
        """Record usage from complete events in `data`; return `data` minus a stripped event.

        The search runs backwards: usage comes at the end of a stream, so a read holding a
        whole fast answer is not scanned from its start, and the last usage seen is the total.
        """
        stop = len(data)
        found = False
        while (at := data.rfind(_MARK, 0, stop)) != -1:
            begin = data.rfind(_SEP, 0, at)
            begin = 0 if begin == -1 else begin + len(_SEP)
            end = data.find(_SEP, at)
            end = len(data) if end == -1 else end + len(_SEP)
            payload = _event_json(data[begin:end].strip())
            if payload is not None and not isinstance(payload.get("usage"), dict):
                payload = _response_of(payload)
            if payload is not None and isinstance(payload.get("usage"), dict):
                if not found:
                    self.usage, found = payload["usage"], True
                if self.strip and not payload.get("choices"):
                    data = data[:begin] + data[end:]
            stop = begin
        return data

    def flush(self) -> None:
        """Write anything held back (an answer cut mid-event still reaches the client)."""
        if self.partial:
            data, self.partial = self.partial, b""
            self._scan(data)
            if self.strip:
                self._write(data)


def _response_of(payload: dict) -> dict | None:
    """The Response inside a Responses API event (`response.completed` carries the usage)."""
    response = payload.get("response")
    return response if isinstance(response, dict) else None


def _event_json(event: bytes) -> dict | None:
    if event.startswith(b"event:"):  # a named event (Responses API): its data line follows
        event = event[event.find(b"\n") + 1 :] if b"\n" in event else b""
    if not event.startswith(b"data:"):
        return None
    try:
        payload = orjson.loads(event[5:])
    except orjson.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None
