"""Replace personal data in a request by stable placeholders, and remember how to undo it.

The same value gets the same placeholder everywhere in one request (`<EMAIL_1>` in the
system prompt and in the third turn alike), so the model can still refer to it. The
mapping lives in the `Redaction` object of that one request, in memory only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from comox.sovereignty.recognisers import Recogniser, Span

PLACEHOLDER = re.compile(r"<[A-Z][A-Z_]*_\d+>")
"""What a placeholder looks like; restore replaces only those the request's mapping knows."""


@dataclass(slots=True)
class RedactionStats:
    requests_scanned: int = 0
    requests_with_pii: int = 0
    values_redacted: int = 0
    bytes_scanned: int = 0


class Redactor:
    """Finds personal data with its recognisers; shared by every request of a worker."""

    def __init__(self, recognisers: Sequence[Recogniser]) -> None:
        self.recognisers = tuple(recognisers)
        self.stats = RedactionStats()

    def spans(self, text: str) -> list[Span]:
        """Non-overlapping findings, longest first where they overlap, in text order."""
        found = [s for r in self.recognisers for s in r.find(text)]
        if len(found) <= 1:
            return found
        found.sort(key=lambda s: (s[0], -(s[1] - s[0])))
        kept: list[Span] = []
        for span in found:
            if kept and span[0] < kept[-1][1]:
                if span[1] - span[0] > kept[-1][1] - kept[-1][0]:
                    kept[-1] = span
                continue
            kept.append(span)
        return kept

    def contains_pii(self, texts: Iterable[str]) -> bool:
        return any(self.spans(t) for t in texts)


@dataclass(slots=True)
class Redaction:
    """One request's mapping between placeholders and the values they stand for."""

    restore_map: dict[str, str] = field(default_factory=dict)
    by_value: dict[tuple[str, str], str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def placeholder(self, kind: str, value: str) -> str:
        known = self.by_value.get((kind, value))
        if known is not None:
            return known
        n = self.counts.get(kind, 0) + 1
        self.counts[kind] = n
        name = f"<{kind}_{n}>"
        self.by_value[(kind, value)] = name
        self.restore_map[name] = value
        return name

    def redact(self, text: str, spans: list[Span]) -> str:
        if not spans:
            return text
        out, at = [], 0
        for start, end, kind in spans:
            out.append(text[at:start])
            out.append(self.placeholder(kind, text[start:end]))
            at = end
        out.append(text[at:])
        return "".join(out)

    def restore(self, text: str) -> str:
        if "<" not in text:
            return text
        known = self.restore_map
        return PLACEHOLDER.sub(lambda m: known.get(m.group(0), m.group(0)), text)


def _map_content(content, fn: Callable[[str], str]):
    if isinstance(content, str):
        return fn(content)
    if isinstance(content, list):
        return [
            {**part, "text": fn(part["text"])}
            if isinstance(part, dict) and isinstance(part.get("text"), str)
            else part
            for part in content
        ]
    return content


def map_texts(api: str, payload: dict, fn: Callable[[str], str]) -> dict:
    """A copy of `payload` with `fn` applied to every text the model will read."""
    if api == "chat":
        messages = payload.get("messages")
        if isinstance(messages, list):
            payload = {
                **payload,
                "messages": [
                    {**m, "content": _map_content(m.get("content"), fn)} if isinstance(m, dict) else m
                    for m in messages
                ],
            }
        return payload
    name = "prompt" if api == "completions" else "input"
    value = payload.get(name)
    if isinstance(value, str):
        return {**payload, name: fn(value)}
    if isinstance(value, list):
        return {**payload, name: [fn(v) if isinstance(v, str) else v for v in value]}
    return payload


def texts(api: str, payload: dict) -> Iterator[str]:
    """Every text of the request the model will read (without copying anything)."""
    found: list[str] = []

    def collect(text: str) -> str:
        found.append(text)
        return text

    map_texts(api, payload, collect)
    return iter(found)


def redact_payload(redactor: Redactor, api: str, payload: dict) -> tuple[dict, Redaction]:
    """The payload with personal data replaced, and the mapping to restore the answer."""
    redaction = Redaction()
    stats = redactor.stats
    stats.requests_scanned += 1

    def redact(text: str) -> str:
        stats.bytes_scanned += len(text)
        return redaction.redact(text, redactor.spans(text))

    redacted = map_texts(api, payload, redact)
    if redaction.restore_map:
        stats.requests_with_pii += 1
        stats.values_redacted += len(redaction.restore_map)
    return redacted, redaction
