"""The attempt loop: send a call to the backend the router picks, and try again elsewhere
while nothing has reached the client yet.

Retried: connect errors, an engine that closed or timed out before answering, and answers
502/503/504/429 (and 529, Anthropic's "overloaded"). A 429 also tells the router to leave that backend alone for its
Retry-After. An engine that says the prompt exceeds its context window moves the call to
the next fallback model. When every attempt failed, the client gets the last engine
answer as it was, or a 502/503 that says why.
"""

from __future__ import annotations

import asyncio
import logging

import orjson

from comox.api.call import Call, complete
from comox.proxy.forward import OVERLOADED, engine_error, open_exchange, relay, request_bytes
from comox.routing.backend import Backend
from comox.routing.router import Router
from comox.server.connection import Connection
from comox.server.errors import GatewayError

log = logging.getLogger("comox.routing")
RETRYABLE = frozenset({429, 502, 503, 504, 529})
"""529 is Anthropic's "overloaded"."""
_CONTEXT_MARKERS = (
    b"maximum context length",
    b"context length",
    b"context window",
    b"too many tokens",
    b"prompt is too long",
)


async def dispatch(router: Router, call: Call, reply: Connection, path: bytes) -> None:
    loop = reply.loop
    config = router.config
    deadline = call.request.started + config.retry_deadline
    tried: set[Backend] = set()
    last_error: GatewayError | None = None
    last_answer: tuple[Backend, int, bytes, bytes | None] | None = None
    chain = router.chain(call.model)
    for position, model in enumerate(chain):
        if position:
            router.stats.fallbacks += 1
        while call.attempts <= config.retries:
            now = loop.time()
            target = router.choose(model, call, tried, now)
            if target is None:
                wait = _retry_after_wait(router, model, tried, now, deadline)
                if wait is None:
                    break
                await asyncio.sleep(wait)
                tried.clear()
                continue
            if now >= deadline:
                break
            backend = target.backend
            if backend.managed is not None:  # an engine the gateway runs: load it if it is not up
                loading = backend.managed.admit(now)
                if loading is not None:
                    await loading
                    now = loop.time()
            if call.attempts:
                router.stats.retries += 1
                backend.state.stats.retries += 1
            if backend.cloud:
                router.stats.cloud_failovers += 1
                backend.state.stats.cloud_uses += 1
            call.attempts += 1
            call.served_model = model
            trace = call.trace
            if trace is not None:  # a span per attempt; its context goes upstream as traceparent
                trace.attempt(call, backend, target.model)
            adapter = backend.adapter
            if call.front is None and not adapter.translates and (adapter.stream_usage or not call.stream):
                call.engine_codec = None
                data = request_bytes(backend, b"POST", path, _body(call, target.model), call.upstream_headers)
            else:
                data = _translated(call, backend, target.model, path)
            tried.add(backend)
            backend.state.breaker.allow(now)
            backend.state.inflight += 1
            backend.state.stats.requests += 1
            ok = False
            try:
                conn = await open_exchange(backend, data)
            except GatewayError as exc:
                if exc.code == OVERLOADED:  # our own descriptors ran out: no backend is to blame
                    backend.state.inflight -= 1
                    raise
                last_error = exc
                _finish(backend, False, loop.time())
                if trace is not None:
                    trace.attempt_done(exc.status, exc.code)
                continue
            try:
                status = conn.status
                if status in RETRYABLE or status == 400:
                    answer = await conn.body()
                    backend.pool.release(conn)
                    if status == 400 and not _context_overflow(answer):
                        ok = True
                        await reply_whole(reply, call, backend, status, answer)
                        return
                    ok = status in (400, 429)  # the engine is fine; it is busy or the prompt too long
                    last_answer = (backend, status, answer, conn.headers.get(b"retry-after"))
                    if status == 429:
                        backend.state.busy_until = loop.time() + _retry_after(conn.headers, 1.0)
                    if status == 400:
                        break  # context window exceeded: next fallback model
                    continue
                ok = status < 500
                await relay(reply, call, backend, conn)
                if conn.first_body_at:
                    backend.state.note_ttft(conn.first_body_at - conn.sent_at)
                return
            except asyncio.CancelledError:
                ok = True  # the client left: no fault of the backend's
                raise
            finally:
                _finish(backend, ok, loop.time())
                if trace is not None:
                    trace.attempt_done(conn.status, None)
    if last_answer is not None:
        backend, status, answer, retry_after = last_answer
        await reply_whole(reply, call, backend, status, answer, retry_after)
        return
    if last_error is not None:
        raise last_error
    router.stats.no_capacity += 1
    raise _no_capacity(call, chain)


def _finish(backend: Backend, ok: bool, now: float) -> None:
    state = backend.state
    state.inflight -= 1
    before = state.breaker.state
    state.breaker.record(ok, now)
    if not ok:
        state.stats.failures += 1
    if state.outlier.record(ok, now):
        state.stats.ejections += 1
        log.warning(
            "backend ejected",
            extra={"fields": {"backend": backend.name, "for_s": round(state.outlier.ejected_until - now, 3)}},
        )
    if state.breaker.state != before and state.breaker.state == "open":
        log.warning("breaker opened", extra={"fields": {"backend": backend.name}})


def _body(call: Call, engine_model: str) -> bytes:
    """The body for one attempt: the client's bytes untouched unless something must change."""
    payload = call.payload
    if engine_model == call.model and not call.payload_changed:
        return call.forward_body or call.request.body
    return orjson.dumps({**payload, "model": engine_model})


def _translated(call: Call, backend: Backend, engine_model: str, path: bytes) -> bytes:
    """The request for an engine of another wire format, or for a client of another API
    family; sets how this attempt's answer is read back (a request the engine's format cannot
    express is refused with 400 before anything is sent)."""
    upstream = backend.adapter.request(call, engine_model, path)
    call.engine_codec = upstream.decode
    front = call.front
    call.client_codec = front.codec() if front is not None and not upstream.native else None
    return request_bytes(backend, b"POST", upstream.path, upstream.body, call.upstream_headers)


async def reply_whole(
    reply: Connection,
    call: Call,
    backend: Backend,
    status: int,
    answer: bytes,
    retry_after: bytes | None = None,
) -> None:
    call.status = status
    headers = [(b"x-comox-attempts", b"%d" % call.attempts)]
    if retry_after:
        headers.append((b"retry-after", retry_after))
    call.backend = backend.name
    headers.append((b"x-comox-backend", backend.name.encode()))
    if status >= 400:
        status, answer = engine_error(call, backend, status, answer)
        call.status = status
    if call.before_complete:
        await complete(call)
    reply.send(status, answer, extra=headers, lines=call.response_headers)


def _retry_after(headers: dict[bytes, bytes], default: float) -> float:
    value = headers.get(b"retry-after")
    try:
        return max(0.0, float(value)) if value else default
    except ValueError:
        return default


def _retry_after_wait(
    router: Router, model: str, tried: set[Backend], now: float, deadline: float
) -> float | None:
    """When the only way forward is a backend that asked us to wait briefly, how long."""
    waits = [
        b.state.busy_until - now
        for b in tried
        if b.state.busy_until > now and b.models.get(model) is not None
    ]
    if not waits:
        return None
    wait = min(waits)
    if wait > router.config.max_retry_after or now + wait >= deadline:
        return None
    return wait


def _context_overflow(answer: bytes) -> bool:
    lowered = answer.lower()
    return any(marker in lowered for marker in _CONTEXT_MARKERS)


def _no_capacity(call: Call, chain: tuple[str, ...]) -> GatewayError:
    models = " or ".join(f"'{m}'" for m in chain)
    cloud = "" if call.allow_cloud else " (cloud backends are not allowed for this request)"
    gate = f" Residency policy: {call.gate_note}; no other backend may be used." if call.gate_note else ""
    return GatewayError(
        503,
        f"No backend can serve {models} right now: all are down, ejected or at capacity{cloud}.{gate} "
        "Retry shortly.",
        code="no_capacity",
        headers=((b"retry-after", b"1"),),
    )
