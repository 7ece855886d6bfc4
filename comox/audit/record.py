"""What one audit record says, built from a finished call: plain functions, no I/O.

The metadata is one canonical JSON document (sorted keys, no spaces) whose exact bytes are
stored and hashed into the chain; the searchable columns are copies of some of its fields,
checked against it by `verify`. Content (prompt and completion) is never in the metadata:
it is sealed separately and only its ciphertext's hash joins the chain.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from comox.api.call import Call
from comox.policy.usage import tokens_of

COLUMNS = (
    "seq",
    "ts",
    "request_id",
    "tenant",
    "key_id",
    "subject",
    "model",
    "backend",
    "status",
    "meta",
    "content",
    "content_sha256",
    "prev_hash",
    "hash",
)
"""A stored record, in this order, in every store and in `chain.verify`."""
INDEXED = ("ts", "request_id", "tenant", "key_id", "subject", "model", "backend", "status")
"""Columns copied from the metadata for search; verify checks each equals its field."""
SUBJECT_HEADER = b"x-comox-subject"
MAX_SUBJECT = 256


@dataclass(frozen=True, slots=True)
class BackendFacts:
    """What a record says about the backend that served: from the config, once."""

    cloud: bool = False
    jurisdiction: str | None = None


_NO_FACTS = BackendFacts()


@dataclass(slots=True)
class Entry:
    """A record before it joins the chain (the store gives it seq, prev_hash and hash)."""

    meta: bytes
    fields: dict[str, Any]
    """The INDEXED fields, as in `meta`."""
    content: bytes | None = None
    """Sealed content (nonce + AES-GCM ciphertext), or None."""


class RequestIds:
    """Audit request ids: a random per-process prefix and a counter, so ids are unique across
    workers and replicas without a random draw per request (as `comox.server.request_id`).
    A forked child draws a new prefix."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self._prefix = "req_" + secrets.token_hex(8)
        self._count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._count):x}"


new_request_id = RequestIds()


class UtcIso:
    """UTC ISO-8601 with milliseconds and a Z (sorts as text in time order), without a
    datetime per call: the formatted second is kept and the milliseconds added."""

    def __init__(self) -> None:
        self._second, self._prefix = None, ""

    def __call__(self, ts: float) -> str:
        second, micros = divmod(round(ts * 1_000_000), 1_000_000)
        if second != self._second:
            self._second, self._prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{micros // 1000:03d}Z"


utc_iso = UtcIso()


def subject_of(call: Call) -> str:
    """Whose data this is: the OpenAI `user` field, else the x-comox-subject header, else the
    tenant (or '-' when the gateway runs without keys)."""
    user = call.payload.get("user")
    if isinstance(user, str) and user:
        return user[:MAX_SUBJECT]
    header = call.request.headers.get(SUBJECT_HEADER)
    if header:
        return header.decode("utf-8", "replace")[:MAX_SUBJECT]
    return getattr(call.principal, "tenant", None) or "-"


def canonical(doc: Mapping[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def describe(
    call: Call,
    *,
    request_id: str,
    subject: str,
    started_wall: float,
    ended: float,
    backends: Mapping[str, BackendFacts],
    content_mode: str,
    content_key: str | None,
) -> dict[str, Any]:
    """The metadata of a record (never the key, never content), its keys in sorted order so
    that `record_bytes` can skip the sort. Times: `started_wall` is the request's start in
    Unix seconds; `ended` is on the loop clock, like `call.request.started`. Milliseconds are
    rounded to the microsecond through an integer (`round(x, 3)` formats a string per call)."""
    principal = call.principal
    backend = call.backend
    facts = (backends.get(backend) or _NO_FACTS) if backend else _NO_FACTS
    prompt, completion, total = tokens_of(call.usage)
    started = call.request.started
    error = call.error
    served = call.served_model
    first = call.first_byte_at
    decisions: dict[str, Any] = {
        "allow_cloud": call.allow_cloud,
        "attempts": call.attempts,
        "cloud": facts.cloud,
        "fallback": served is not None and served != call.model,
    }
    if call.notes:
        decisions.update(call.notes)
    return {
        "api": call.api,
        "backend": backend,
        "client_ip": call.request.client,
        "completion_tokens": completion,
        "content": content_mode,
        "content_key": content_key,
        "data_class": call.data_class,
        "decisions": decisions,
        "error": error.code if error is not None else None,
        "jurisdiction": facts.jurisdiction,
        "key_id": principal.id if principal is not None else None,
        "latency_ms": round((ended - started) * 1_000_000) / 1000 if started else None,
        "model": call.model or None,
        "prompt_tokens": prompt,
        "request_id": request_id,
        "served_model": served,
        "status": call.status,
        "stream": call.stream,
        "subject": subject,
        "tenant": principal.tenant if principal is not None else None,
        "total_tokens": total,
        "ts": utc_iso(started_wall),
        "ttft_ms": round((first - started) * 1_000_000) / 1000 if first and started else None,
        "v": 1,
    }


def record_bytes(meta: dict[str, Any], notes: bool) -> bytes:
    """`canonical(meta)` for what `describe` built: its keys are sorted already, so only a call
    with policy notes (which join `decisions` in any order) pays for the sort."""
    return orjson.dumps(meta, option=orjson.OPT_SORT_KEYS) if notes else orjson.dumps(meta)


def entry_of(meta: dict[str, Any], content: bytes | None = None) -> Entry:
    return Entry(canonical(meta), {name: meta[name] for name in INDEXED}, content)


def entry_from(meta: bytes, content: bytes | None = None) -> Entry:
    """The entry of stored metadata bytes: the indexed fields read back from the JSON."""
    doc = orjson.loads(meta)
    return Entry(meta, {name: doc[name] for name in INDEXED}, content)


def prompt_of(payload: Mapping[str, Any]) -> Any:
    """The content part of a request: messages, prompt or input, whichever the API uses."""
    for name in ("messages", "prompt", "input"):
        if name in payload:
            return payload[name]
    return None


def completion_text(answer: bytes, stream: bool) -> str | None:
    """The generated text of an answer as the client got it (a JSON body or an SSE stream);
    the raw text when it is neither (an error body, say)."""
    if not answer:
        return None
    if not stream:
        try:
            doc = orjson.loads(answer)
        except orjson.JSONDecodeError:
            return answer.decode("utf-8", "replace")
        return _choices_text(doc) if isinstance(doc, dict) and "choices" in doc else answer.decode()
    parts: list[str] = []
    for line in answer.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if not data or data == b"[DONE]":
            continue
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            parts.append(_choices_text(doc) or "")
    return "".join(parts)


def _choices_text(doc: dict) -> str:
    texts = []
    for choice in doc.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        for holder in (choice.get("message"), choice.get("delta")):
            if isinstance(holder, dict) and isinstance(holder.get("content"), str):
                texts.append(holder["content"])
        if isinstance(choice.get("text"), str):
            texts.append(choice["text"])
    return "".join(texts)
