"""What each finished exchange leaves behind: request metrics and one access-log line.

It runs once per request, after the reply (the connection calls `finished`), so it sees
the final status, the backend that answered, the token usage and the timings the proxy
noted on the `Call`. Requests refused before a `Call` existed (401, 400, 404...) are
counted too, with the labels that are known. Everything goes into plain counters and
fixed-bucket histograms keyed by a few bounded labels; rendering waits for a scrape.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass, field

from comox.observability.access_log import AccessLog
from comox.observability.histogram import LATENCY_BOUNDS, TOKEN_BOUNDS, TTFT_BOUNDS, Histogram
from comox.server.request import Request
from comox.server.request_id import RequestIds

INFERENCE_PATHS = {
    b"/v1/chat/completions": "chat",
    b"/v1/completions": "completions",
    b"/v1/embeddings": "embeddings",
}
"""Inference routes by path, to label requests refused before a Call was made."""
ROUTES = {b"/health": "health", b"/ready": "ready", b"/v1/models": "models"}
PREFIXES = ((b"/v1/models/", "models"), (b"/admin/", "admin"))
UNKNOWN_MODEL = "unknown"


@dataclass(slots=True)
class Series:
    """Counters of one (api, model, backend, code, tenant)."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(slots=True)
class Timings:
    """Histograms of one (model, backend)."""

    duration: Histogram = field(default_factory=lambda: Histogram(LATENCY_BOUNDS))
    ttft: Histogram = field(default_factory=lambda: Histogram(TTFT_BOUNDS))
    inter_token: Histogram = field(default_factory=lambda: Histogram(TOKEN_BOUNDS))


@dataclass(slots=True)
class RequestStats:
    series: dict[tuple[str, str, str, int, str], Series] = field(default_factory=dict)
    timings: dict[tuple[str, str], Timings] = field(default_factory=dict)
    http: dict[tuple[str, int], int] = field(default_factory=dict)
    """Other routes (health, models, admin, metrics, unknown), by route and status."""
    aborted: int = 0
    """Requests whose client left before the reply was complete."""


class Exchanges:
    """The connection's `ExchangeObserver`: request ids, request metrics, access log."""

    def __init__(
        self,
        models: Collection[str],
        metrics: bool = True,
        access_log: AccessLog | None = None,
        ids: RequestIds | None = None,
        routes: dict[bytes, str] | None = None,
    ) -> None:
        self.models = frozenset(models)
        """Model labels are these names, anything else is 'unknown': a client cannot mint series."""
        self.metrics = metrics
        self.access_log = access_log
        self.request_id = ids or RequestIds()
        self.routes = {**ROUTES, **(routes or {})}
        self.stats = RequestStats()
        self._loop = asyncio.get_running_loop()

    def finished(self, request: Request | None, status: int, aborted: bool) -> None:
        now = self._loop.time()
        # pop, not get: the call holds its request, so leaving it there makes a reference
        # cycle per request that only the cyclic GC frees (its collections cost ~20 % of CPU)
        call = request.state.pop("call", None) if request is not None else None
        if self.metrics:
            if aborted:
                self.stats.aborted += 1
            if call is not None:
                self._record_call(call, status, now)
            else:
                self._record_other(request, status, now)
        if self.access_log is not None and request is not None:
            self.access_log.write(self._fields(request, call, status, aborted, now))

    def _record_call(self, call, status: int, now: float) -> None:
        model = call.model if call.model in self.models else UNKNOWN_MODEL
        backend = call.backend or ""
        principal = call.principal
        key = (call.api, model, backend, status, principal.tenant if principal is not None else "")
        series = self.stats.series.get(key)
        if series is None:
            series = self.stats.series[key] = Series()
        series.requests += 1
        usage = call.usage
        output = 0
        if usage:
            series.input_tokens += usage.get("prompt_tokens") or 0
            output = usage.get("completion_tokens") or 0
            series.output_tokens += output
        timings = self.stats.timings.get((model, backend))
        if timings is None:
            timings = self.stats.timings[(model, backend)] = Timings()
        started = call.request.started
        timings.duration.observe(now - started)
        first = call.first_token_at
        if first:
            timings.ttft.observe(first - started)
            if output > 1 and call.ended_at >= first:
                timings.inter_token.observe((call.ended_at - first) / (output - 1))

    def _record_other(self, request: Request | None, status: int, now: float) -> None:
        if request is None:  # refused while reading: no route is known
            key = ("unread", status)
        else:
            api = INFERENCE_PATHS.get(request.path)
            if api is not None:
                key5 = (api, "", "", status, "")
                series = self.stats.series.get(key5)
                if series is None:
                    series = self.stats.series[key5] = Series()
                series.requests += 1
                return
            key = (self._route(request.path), status)
        self.stats.http[key] = self.stats.http.get(key, 0) + 1

    def _route(self, path: bytes) -> str:
        name = self.routes.get(path)
        if name is not None:
            return name
        for prefix, name in PREFIXES:
            if path.startswith(prefix):
                return name
        return "other"

    def _fields(self, request: Request, call, status: int, aborted: bool, now: float) -> dict:
        fields = {
            "request_id": request.id.decode("latin-1"),
            "method": request.method.decode("latin-1"),
            "path": request.path[:200].decode("latin-1"),
            "status": status,
            "duration_ms": round((now - request.started) * 1000, 3),
            "client": request.client,
        }
        if aborted:
            fields["aborted"] = True
        if call is not None:
            principal = call.principal
            fields["model"] = call.model[:200]
            fields["backend"] = call.backend
            fields["attempts"] = call.attempts
            fields["stream"] = call.stream
            if principal is not None:
                fields["tenant"] = principal.tenant
                fields["key_id"] = principal.id
            if call.usage:
                fields["input_tokens"] = call.usage.get("prompt_tokens")
                fields["output_tokens"] = call.usage.get("completion_tokens")
            if call.first_token_at:
                fields["ttft_ms"] = round((call.first_token_at - request.started) * 1000, 3)
            if call.error is not None and call.error.code:
                fields["error"] = call.error.code
        return fields
