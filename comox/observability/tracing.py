"""OpenTelemetry traces of inference calls, following the GenAI semantic conventions.

One span per call (`chat llama-3-8b`, kind SERVER) with children: `policy` (authentication,
validation and the admission stages, from the request's arrival to routing), then per
routing attempt an `attempt N` span naming the backend, holding the CLIENT span of the
upstream call, whose context goes to the engine as a W3C `traceparent` header. A client's
own `traceparent` becomes the parent of the call's span.

Tracing is a stage: when it is off it is not in the chain and `call.trace` stays None, so
no span object is ever made. Spans carry explicit timestamps taken from the clocks the
gateway already reads, so nothing waits on the SDK between the request and its answer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from comox.api.call import Call
from comox.config.observability import TracingConfig

OPERATIONS = {"chat": "chat", "completions": "text_completion", "embeddings": "embeddings"}
"""gen_ai.operation.name of each API."""
_REQUEST_NUMBERS = {
    "max_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
}
_PROPAGATOR = TraceContextTextMapPropagator()


class Tracing:
    """The tracing stage: opens the call's span in `admit`, closes it in `settle`."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("comox.gateway")

    @classmethod
    def from_config(cls, config: TracingConfig, processor: SpanProcessor | None = None) -> Tracing:
        """`processor` replaces the OTLP exporter (tests pass an in-memory one)."""
        provider = TracerProvider(
            resource=Resource.create({"service.name": config.service_name}),
            sampler=ParentBased(TraceIdRatioBased(config.sample_ratio)),
        )
        if processor is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=config.endpoint))
        provider.add_span_processor(processor)
        return cls(provider)

    def admit(self, call: Call) -> None:
        request = call.request
        offset = time.time_ns() - int(asyncio.get_running_loop().time() * 1e9)
        start = int(request.started * 1e9) + offset
        parent = None
        if b"traceparent" in request.headers:
            carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.items()}
            parent = _PROPAGATOR.extract(carrier)
        operation = OPERATIONS.get(call.api, call.api)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.request.model": call.model,
            "comox.stream": call.stream,
        }
        if request.id:
            attributes["comox.request_id"] = request.id.decode("latin-1")
        for field, name in _REQUEST_NUMBERS.items():
            value = call.payload.get(field)
            if isinstance(value, int | float) and not isinstance(value, bool):
                attributes[name] = value
        root = self.tracer.start_span(
            f"{operation} {call.model}", parent, SpanKind.SERVER, attributes, start_time=start
        )
        context = trace.set_span_in_context(root)
        policy = self.tracer.start_span("policy", context, start_time=start)
        call.trace = CallTrace(self.tracer, root, context, policy, offset, call.upstream_headers)

    def settle(self, call: Call) -> None:
        if call.trace is not None:
            call.trace.end(call)

    def shutdown(self) -> None:
        self.provider.shutdown()


class CallTrace:
    """The open spans of one call; dispatch calls `attempt` and `attempt_done` around each try."""

    __slots__ = ("_attempt", "_base", "_context", "_offset", "_policy", "_tracer", "_upstream", "root")

    def __init__(self, tracer, root, context, policy, offset: int, base_headers: bytes) -> None:
        self._tracer = tracer
        self.root = root
        self._context = context
        self._policy = policy
        self._offset = offset
        self._base = base_headers
        self._attempt = None
        self._upstream = None

    def attempt(self, call: Call, backend, engine_model: str) -> None:
        now = time.time_ns()
        if self._policy is not None:
            self._policy.end(now)
            self._policy = None
        span = self._tracer.start_span(
            f"attempt {call.attempts}",
            self._context,
            attributes={
                "comox.attempt": call.attempts,
                "comox.backend": backend.name,
                "comox.backend.cloud": backend.cloud,
            },
            start_time=now,
        )
        config = backend.pool.config
        upstream = self._tracer.start_span(
            "POST",
            trace.set_span_in_context(span),
            SpanKind.CLIENT,
            {
                "http.request.method": "POST",
                "server.address": config.host,
                "server.port": config.port,
                "gen_ai.operation.name": OPERATIONS.get(call.api, call.api),
                "gen_ai.provider.name": backend.kind.name,
                "gen_ai.request.model": engine_model,
            },
            start_time=now,
        )
        self._attempt, self._upstream = span, upstream
        ctx = upstream.get_span_context()
        call.upstream_headers = self._base + b"traceparent: 00-%032x-%016x-%02x\r\n" % (
            ctx.trace_id,
            ctx.span_id,
            ctx.trace_flags,
        )

    def attempt_done(self, status: int, error: str | None) -> None:
        now = time.time_ns()
        upstream, attempt = self._upstream, self._attempt
        if upstream is None or attempt is None:
            return
        if status:
            upstream.set_attribute("http.response.status_code", status)
            attempt.set_attribute("http.response.status_code", status)
        if error or status >= 500 or not status:
            kind = error or str(status)
            for span in (upstream, attempt):
                span.set_attribute("error.type", kind)
                span.set_status(Status(StatusCode.ERROR))
        upstream.end(now)
        attempt.end(now)
        self._attempt = self._upstream = None

    def end(self, call: Call) -> None:
        now = time.time_ns()
        if self._policy is not None:
            self._policy.end(now)
            self._policy = None
        if self._attempt is not None:  # cancelled mid-attempt (the client left)
            self.attempt_done(0, "cancelled")
        root = self.root
        root.set_attribute("http.response.status_code", call.status)
        root.set_attribute("comox.attempts", call.attempts)
        if call.backend:
            root.set_attribute("comox.backend", call.backend)
        principal = call.principal
        if principal is not None:
            root.set_attribute("comox.tenant", principal.tenant)
        usage = call.usage
        if usage:
            for field, name in (
                ("prompt_tokens", "gen_ai.usage.input_tokens"),
                ("completion_tokens", "gen_ai.usage.output_tokens"),
            ):
                value = usage.get(field)
                if isinstance(value, int):
                    root.set_attribute(name, value)
        if call.error is not None or call.status >= 500:
            root.set_attribute("error.type", (call.error.code if call.error else None) or str(call.status))
            root.set_status(Status(StatusCode.ERROR))
        end = int(call.ended_at * 1e9) + self._offset if call.ended_at else now
        root.end(end)
