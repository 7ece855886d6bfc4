"""Server-sent events as engines write them: whole events out of a byte stream, and back.

Reads can split an event anywhere, so the incomplete tail is held until its blank line
arrives. Only the transcoders use this; streams that need no translation never parse SSE.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

_MAX_TAIL = 1 << 22


@dataclass(slots=True)
class Event:
    name: str | None
    data: bytes

    def json(self) -> dict | None:
        """The data as a JSON object; None for `[DONE]`, non-JSON or non-object data."""
        try:
            value = orjson.loads(self.data)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None


def parse_event(block: bytes) -> Event | None:
    name: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
        elif line.startswith(b"event:"):
            name = line[6:].strip().decode("utf-8", "replace")
    if not data and name is None:
        return None
    return Event(name, b"\n".join(data))


class EventSplitter:
    """Cuts a byte stream into whole events, holding the unfinished tail between reads."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, data: bytes) -> list[Event]:
        buf = self._tail + data if self._tail else data
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        blocks = buf.split(b"\n\n")
        self._tail = blocks.pop()
        if len(self._tail) > _MAX_TAIL:
            raise ValueError("an SSE event larger than 4 MiB; the stream is not SSE as expected")
        return [e for b in blocks if (e := parse_event(b)) is not None]

    def flush(self) -> list[Event]:
        tail, self._tail = self._tail, b""
        event = parse_event(tail.strip(b"\n")) if tail.strip() else None
        return [event] if event is not None else []


def encode(name: str | None, payload: dict) -> bytes:
    """One event: `event: NAME` (when named) and one `data:` line of compact JSON."""
    body = orjson.dumps(payload)
    if name is None:
        return b"data: " + body + b"\n\n"
    return b"event: " + name.encode() + b"\ndata: " + body + b"\n\n"


DONE = b"data: [DONE]\n\n"


class Transcoder:
    """Base of the stream translators: an `AnswerFilter` that re-encodes whole events.

    Subclasses implement `event(event, out)` (append encoded bytes to `out`), `finish(out)`
    (the closing events of a stream that ended normally) and `whole(body)`. `failed` is set
    once an error event went out: nothing more is written after it.
    """

    def __init__(self) -> None:
        self._splitter = EventSplitter()
        self.failed = False
        self.finished = False

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        for event in self._splitter.feed(data):
            if not (self.failed or self.finished):
                self.event(event, out)
        return b"".join(out)

    def flush(self) -> bytes:
        out: list[bytes] = []
        for event in self._splitter.flush():
            if not (self.failed or self.finished):
                self.event(event, out)
        if not (self.failed or self.finished):
            self.finish(out)
        return b"".join(out)

    def event(self, event: Event, out: list[bytes]) -> None:
        raise NotImplementedError

    def finish(self, out: list[bytes]) -> None:
        raise NotImplementedError

    def whole(self, body: bytes) -> bytes:
        raise NotImplementedError


class ChatTranscoder(Transcoder):
    """A translator of OpenAI chat streams: `[DONE]` finishes, an error event ends the stream
    through `error(error, out)`, and every other chunk goes to `chunk(chunk, out)`."""

    def event(self, event: Event, out: list[bytes]) -> None:
        if event.data == b"[DONE]":
            self.finish(out)
            return
        chunk = event.json()
        if chunk is None:
            return
        if "error" in chunk or chunk.get("object") == "error":
            self.failed = True
            self.error(chunk.get("error") if isinstance(chunk.get("error"), dict) else chunk, out)
            return
        self.chunk(chunk, out)

    def chunk(self, chunk: dict, out: list[bytes]) -> None:
        raise NotImplementedError

    def error(self, error: dict, out: list[bytes]) -> None:
        raise NotImplementedError
