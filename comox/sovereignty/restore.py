"""Put redacted values back into the answer before the client sees it, streams included.

A placeholder can be split across SSE events when the model emits it token by token
("<", "EMAIL", "_1", ">"), and events can be split across reads. So for redacted
requests, and only for them, the stream is parsed event by event: each choice's text
is restored, and a trailing piece that may still become a placeholder is held back
until the next event of that choice (or its finish) completes or refutes it. Events that
hold no "<" and follow no held-back piece are passed on byte for byte.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from comox.sovereignty.redaction import Redaction

_PARTIAL = re.compile(r"<[A-Z_]*\d*\Z")


def split_partial(text: str, longest: int) -> tuple[str, str]:
    """(safe to emit, held back): the held part is a trailing prefix of a possible placeholder."""
    at = text.rfind("<", max(0, len(text) - longest))
    if at < 0 or not _PARTIAL.match(text, at):
        return text, ""
    return text[:at], text[at:]


def _restore_deep(value: Any, redaction: Redaction) -> Any:
    if isinstance(value, str):
        return redaction.restore(value)
    if isinstance(value, list):
        return [_restore_deep(v, redaction) for v in value]
    if isinstance(value, dict):
        return {k: _restore_deep(v, redaction) for k, v in value.items()}
    return value


class RestoreFilter:
    """The `AnswerFilter` of one redacted request."""

    def __init__(self, redaction: Redaction) -> None:
        self.redaction = redaction
        self.longest = max(map(len, redaction.restore_map), default=2)
        self._buffer = b""
        self._held: dict[int, str] = {}
        self._template: dict[str, Any] = {}
        self._kind = "delta"

    # -- whole answers -------------------------------------------------------------------
    def whole(self, body: bytes) -> bytes:
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            return self.redaction.restore(body.decode("utf-8", "replace")).encode()
        if isinstance(answer, dict) and isinstance(answer.get("choices"), list):
            answer["choices"] = _restore_deep(answer["choices"], self.redaction)
            return orjson.dumps(answer)
        return body

    # -- streams ---------------------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        buffer = self._buffer + data
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        out = []
        start = 0
        while True:
            end = buffer.find(b"\n\n", start)
            if end < 0:
                break
            out.append(self._event(buffer[start:end]))
            start = end + 2
        self._buffer = buffer[start:]
        return b"".join(out)

    def flush(self) -> bytes:
        rest = self._buffer
        self._buffer = b""
        out = self._event(rest) if rest.strip() else b""
        return out + self._release()

    def _event(self, block: bytes) -> bytes:
        raw = block + b"\n\n"
        if not block.startswith(b"data:"):
            return raw
        data = block[5:].strip()
        if data == b"[DONE]":
            return self._release() + raw
        if b"<" not in data and not self._held:
            return raw
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return raw
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        if not isinstance(choices, list) or not choices:
            return raw
        self._template = {k: v for k, v in chunk.items() if k not in ("choices", "usage")}
        for choice in choices:
            if isinstance(choice, dict):
                self._choice(choice)
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _choice(self, choice: dict) -> None:
        index = choice.get("index", 0)
        delta = choice.get("delta")
        if isinstance(delta, dict):
            holder, key, self._kind = delta, "content", "delta"
        else:
            holder, key, self._kind = choice, "text", "text"
        text = holder.get(key)
        held = self._held.pop(index, "")
        if not isinstance(text, str):
            if not held:
                return
            text = ""
        text = held + text
        if choice.get("finish_reason") is None:
            text, keep = split_partial(text, self.longest)
            if keep:
                self._held[index] = keep
        holder[key] = self.redaction.restore(text)

    def _release(self) -> bytes:
        """An event with every held-back piece, when the stream ends without a finish."""
        if not self._held:
            return b""
        choices = []
        for index, text in sorted(self._held.items()):
            restored = self.redaction.restore(text)
            if self._kind == "delta":
                choices.append({"index": index, "delta": {"content": restored}, "finish_reason": None})
            else:
                choices.append({"index": index, "text": restored, "finish_reason": None})
        self._held.clear()
        return b"data: " + orjson.dumps({**self._template, "choices": choices}) + b"\n\n"
