"""One inference call as it moves through the gateway's stages.

Stages (authentication, limits, policy, cache, ...) are small objects with two hooks:
`admit(call)` before routing, which may refuse by raising `GatewayError` or change the
payload, and `settle(call)` once the answer is done, which sees status, backend and usage.
A stage that is switched off is simply not in the list, so it costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from comox.server.errors import GatewayError
from comox.server.request import Request


@dataclass(slots=True, eq=False)
class Call:
    request: Request
    api: str
    """chat | completions | embeddings"""
    payload: dict
    model: str
    """The public model name the client asked for."""
    stream: bool
    principal: Any = None
    """Who is calling, set by authentication (None while no keys are configured)."""
    allow_cloud: bool = True
    data_class: str | None = None
    """The request's data class for residency policy (the key's default until classified)."""
    payload_changed: bool = False
    """A stage changed `payload`: the body must be re-encoded before forwarding."""
    token_counters: tuple = ()
    """Rate-limit and budget counters to charge with the engine's token count in `settle`."""
    want_usage: bool = False
    """Some stage needs token counts: streams then ask the engine for its usage event."""
    strip_usage: bool = False
    """The usage event was asked for by the gateway, not the client: keep it from the client."""
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    backend_allowed: Callable[[Any], bool] | None = None
    """A gate on backends (residency policy): the router never picks one it refuses, including
    for retries, fallbacks and cloud failover."""
    answer_filter: AnswerFilter | None = None
    """Rewrites the answer on its way to the client (e.g. restoring redacted values)."""
    answer_taps: list[Callable[[bytes], None]] = field(default_factory=list)
    """See the answer bytes exactly as the client gets them (audit, cache fill)."""
    # what happened, filled in by the proxy
    status: int = 0
    backend: str | None = None
    attempts: int = 0
    usage: dict | None = None
    error: GatewayError | None = None
    first_byte_at: float = 0.0
    first_token_at: float = 0.0
    """Streams: when the engine's first answer bytes arrived (time to first token)."""
    ended_at: float = 0.0
    upstream_headers: bytes = b""
    """Header lines added to each engine request (x-request-id, traceparent), rendered once."""
    trace: Any = None
    """The call's trace when tracing is on (see comox.observability.tracing); None costs nothing."""


class AnswerFilter(Protocol):
    """Rewrites answer bytes. Streams call `feed` per read and `flush` at the end (a filter may
    hold back bytes it cannot decide on yet, such as a placeholder split across reads)."""

    def feed(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...

    def whole(self, body: bytes) -> bytes: ...


class Stage(Protocol):
    async def admit(self, call: Call) -> None: ...

    def settle(self, call: Call) -> None: ...
