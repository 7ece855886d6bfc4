"""Prefix and session affinity by consistent hashing with bounded loads.

A conversation is named by its session id (the `x-comox-session` header or the OpenAI
`user` field) or, failing that, by its stable opening: the system prompt and the first user
turn, which stay the same as the conversation grows. That name is hashed onto a ring of
virtual nodes; the first backend clockwise that is available and not above
`load_factor` times the mean in-flight load (Mirrokni et al., 2018), or below `min_spill`
in flight, takes the request, so one hot prefix spills over instead of overloading its
backend, while the small imbalances an engine's batching absorbs keep their cache.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Sequence
from typing import Any

from comox.routing.backend import Backend


def _hash(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def conversation_key(headers: dict[bytes, bytes], payload: dict, prefix_chars: int) -> bytes:
    """The bytes that name a conversation: session id, user, or the prompt's stable opening."""
    session = headers.get(b"x-comox-session")
    if session:
        return b"s:" + session
    user = payload.get("user")
    if isinstance(user, str) and user:
        return b"u:" + user.encode()
    messages = payload.get("messages")
    if isinstance(messages, list):
        return b"p:" + _opening(messages, prefix_chars).encode()
    prompt = payload.get("prompt")
    return (
        b"p:" + (prompt[:prefix_chars] if isinstance(prompt, str) else repr(prompt)[:prefix_chars]).encode()
    )


def _opening(messages: list[Any], limit: int) -> str:
    parts: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        text = content if isinstance(content, str) else repr(content)
        parts.append(f"{message.get('role')}:{text}")
        if message.get("role") == "user":
            break  # the first user turn ends the opening
    return "\n".join(parts)[:limit]


class HashRing:
    def __init__(self, backends: Sequence[Backend], virtual_nodes: int) -> None:
        points = sorted(
            (_hash(f"{backend.name}#{i}".encode()), index)
            for index, backend in enumerate(backends)
            for i in range(max(1, round(virtual_nodes * backend.weight)))
        )
        self._hashes = [h for h, _ in points]
        self._owners = [i for _, i in points]
        self._backends = list(backends)

    def walk(self, key: bytes):
        """Backends in ring order from the key's point, each once."""
        start = bisect.bisect(self._hashes, _hash(key))
        seen: set[int] = set()
        n = len(self._owners)
        for step in range(n):
            owner = self._owners[(start + step) % n]
            if owner not in seen:
                seen.add(owner)
                yield self._backends[owner]
                if len(seen) == len(self._backends):
                    return


def bounded_pick(
    ring: HashRing, key: bytes, candidates: Sequence[Backend], load_factor: float, min_spill: int
) -> Backend | None:
    """The first candidate on the ring whose in-flight load is under the bound."""
    allowed = {id(b) for b in candidates}
    total = sum(b.state.inflight for b in candidates)
    bound = max(min_spill, math.ceil(load_factor * (total + 1) / len(candidates)))
    fallback = None
    for backend in ring.walk(key):
        if id(backend) not in allowed:
            continue
        if backend.state.inflight < bound:
            return backend
        fallback = fallback or backend
    return fallback
