"""One inference call as it moves through the gateway's stages.

Stages (authentication, limits, policy, cache, ...) are small objects with two hooks:
`admit(call)` before routing, which may refuse by raising `GatewayError` or change the
payload, and, when a stage has something to do then, `settle(call)` once the answer is done,
which sees status, backend and usage.
A stage that is switched off is simply not in the list, so it costs nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from comox.server.errors import ErrorShape, GatewayError
from comox.server.request import Request


@dataclass(frozen=True, slots=True)
class Front:
    """The client's API family when it is not OpenAI chat (Anthropic Messages, Responses).

    The call's `payload` is then the request translated to chat (the gateway's canonical
    form, which stages read and change); `native` is what the client sent, forwarded as is
    to an engine that speaks the family itself when no stage changed the payload.
    """

    family: str
    """anthropic | responses"""
    native: dict
    path: bytes
    """The client's path, used when the engine speaks the family."""
    codec: Callable[[], AnswerFilter]
    """A fresh translator of chat answers (stream or whole) into the family's form."""
    error_shape: ErrorShape


@dataclass(slots=True, eq=False)
class Call:
    request: Request
    api: str
    """chat | completions | embeddings (messages and responses calls are chat with a `front`)"""
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
    forward_body: bytes | None = None
    """The body to forward while `payload` is unchanged, when it is not the client's bytes:
    the client's with the gateway's one addition spliced in (see `ask_stream_usage`)."""
    charge_tokens: Callable[[int, float], None] | None = None
    """Charges the engine's token count (amount, now) to the call's token and budget counters,
    set by the limits stage for its `settle`."""
    want_usage: bool = False
    """Some stage needs token counts: streams then ask the engine for its usage event."""
    strip_usage: bool = False
    """The usage event was asked for by the gateway, not the client: keep it from the client."""
    response_headers: bytes = b""
    """Header lines (`name: value\r\n`, see `wire.header_line`) every answer of this call
    carries, rendered by the stages that add them: appending bytes, not tuples of pairs."""
    backend_allowed: Callable[[Any], bool] | None = None
    """A gate on backends (residency policy): the router never picks one it refuses, including
    for retries, fallbacks and cloud failover."""
    gate_note: str = ""
    """What `backend_allowed` lets through, in words: added to a no-capacity refusal."""
    answer_filter: AnswerFilter | None = None
    """Rewrites the answer on its way to the client (e.g. restoring redacted values)."""
    answer_taps: tuple[Callable[[bytes], None], ...] = ()
    """See the answer bytes exactly as the client gets them (audit, cache fill)."""
    chat_taps: tuple[Callable[[bytes], None], ...] = ()
    """See the answer as OpenAI chat (after `answer_filter`, before the client's codec): what
    reads answers as chat (agent memory) works the same for every API family."""
    before_complete: tuple[Callable[[Call], Awaitable[None]], ...] = ()
    """Awaited once before the end of the answer reaches the client (the whole body, the
    stream's last chunk, or an error): what must be durable before the client can see a
    finished answer, such as its audit record. See `complete()`."""
    replay: Callable[[Call, Any], Awaitable[None]] | None = None
    """Set by a stage that can answer the call itself (a cache hit): the service awaits
    `replay(call, reply)` instead of routing. Every stage has still run `admit`, and runs
    `settle`; the replay runs answer taps and `before_complete` like a relayed answer."""
    notes: dict[str, Any] = field(default_factory=dict)
    """Policy decisions stages want on the record (e.g. redactions applied)."""
    front: Front | None = None
    """Set by the Anthropic and Responses routes; None for the OpenAI API (the hot path)."""
    engine_codec: AnswerFilter | None = None
    """Per attempt, from the engine adapter: the engine's answer into OpenAI chat form. Usage is
    read and `answer_filter` runs after it, so both always see chat."""
    client_codec: AnswerFilter | None = None
    """Per attempt, from `front`: chat answers into the client's family, after `answer_filter`."""
    # what happened, filled in by the proxy
    status: int = 0
    backend: str | None = None
    served_model: str | None = None
    """The model of the fallback chain the answering backend served (the asked one unless
    a fallback was taken)."""
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


async def complete(call: Call) -> None:
    """Run the `before_complete` hooks, once: callers test the list first, so a call
    nobody hooked costs one attribute read."""
    hooks, call.before_complete = call.before_complete, []
    for hook in hooks:
        await hook(call)


class AnswerFilter(Protocol):
    """Rewrites answer bytes. Streams call `feed` per read and `flush` at the end (a filter may
    hold back bytes it cannot decide on yet, such as a placeholder split across reads)."""

    def feed(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...

    def whole(self, body: bytes) -> bytes: ...


class Stage(Protocol):
    """May also define `settle(call) -> None`, run after the answer (in reverse stage order);
    a stage with nothing to do then leaves it out and costs nothing there."""

    def admit(self, call: Call) -> Awaitable[None] | None:
        """Returns None when done at once, or an awaitable when it must wait for I/O: a stage
        with nothing to do for a call then costs one function call, not a coroutine."""
