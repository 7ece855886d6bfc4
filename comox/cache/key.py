"""Cache keys: pure functions of the request, its tenant and its data class.

A key is a hash of the canonical JSON (orjson, sorted keys) of everything that shapes the
answer: tenant, data class, API, client family, public model and the request body minus
fields that do not change the output (`stream`, `user`, ...). Whole and streamed chat
answers share a key: a stored answer is replayed in either form (see `replay`).

The semantic partition is the same hash without the last user message: two requests may
only match by meaning when everything else (system prompt, earlier turns, parameters) is
identical; the last user message alone is compared by vector.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

IGNORED = frozenset({"stream", "stream_options", "user", "metadata", "store", "service_tier"})
"""Request fields that do not change the answer's content."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Who and what a key belongs to: keys of different scopes never collide."""

    tenant: str
    data_class: str
    api: str
    family: str
    """chat, or the client's API family (anthropic, responses), whose answers differ in form."""
    stream_form: bool
    """Answers stored as the client got them (other families, completions): streamed and
    whole answers are then distinct entries. False for chat, whose answers are normalised."""
    model: str
    """The model the call goes to (after version pinning), beside the one the body names."""


def deterministic(payload: dict) -> bool:
    """The answer is reproducible: greedy sampling or a fixed seed."""
    temperature = payload.get("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool) and temperature == 0:
        return True
    seed = payload.get("seed")
    return isinstance(seed, int) and not isinstance(seed, bool)


def _digest(scope: Scope, body: dict) -> str:
    doc = {
        "t": scope.tenant,
        "c": scope.data_class,
        "a": scope.api,
        "f": scope.family,
        "s": scope.stream_form,
        "m": scope.model,
        "b": body,
    }
    return hashlib.blake2b(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS), digest_size=20).hexdigest()


def relevant(payload: dict, stream: bool, stream_form: bool) -> dict:
    body = {k: v for k, v in payload.items() if k not in IGNORED}
    if stream_form:
        body["stream"] = stream
    return body


def exact_key(scope: Scope, payload: dict, stream: bool) -> str:
    return _digest(scope, relevant(payload, stream, scope.stream_form))


def question(payload: dict) -> str | None:
    """The last user message as text, when it is the last message and plain text (string
    content or text parts only); None otherwise (no semantic lookup)."""
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        return None
    content = last.get("content")
    if isinstance(content, str):
        return content.strip() or None
    if isinstance(content, list):
        parts = []
        for part in content:
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                return None
            parts.append(part["text"])
        return "\n".join(parts).strip() or None
    return None


def partition_key(scope: Scope, payload: dict, stream: bool) -> str:
    """Everything but the last user message: the semantic index compares vectors only within
    one partition."""
    body = relevant(payload, stream, scope.stream_form)
    body["messages"] = payload["messages"][:-1]
    return "p" + _digest(scope, body)


def subject_hash(subject: str) -> str:
    """Entries are indexed by a hash of their subject (with their tenant beside it): erasure
    finds them without the cache or its journal keeping the identifier itself."""
    return hashlib.blake2b(subject.encode(), digest_size=16, person=b"comox-subject").hexdigest()
