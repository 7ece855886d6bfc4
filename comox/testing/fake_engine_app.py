"""The fake engine's routes: vLLM's OpenAI server surface plus the /_control and /_stats test hooks."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from comox.testing.fake_engine_anthropic import error_body as anthropic_error_body
from comox.testing.fake_engine_controls import Behaviour, ControlBoard, ControlError
from comox.testing.fake_engine_http import Request, Responder
from comox.testing.fake_engine_inference import ANTHROPIC_WIRE, OPENAI_WIRE, InferenceService
from comox.testing.fake_engine_openai import ApiError, Clock, error_body, models_body, parse_json_object
from comox.testing.fake_engine_stats import EngineStats, MetricCounters, render_metrics

Route = Callable[[Request, Responder], Awaitable[None]]
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class EngineConfig:
    """What the engine is started with (the CLI flags)."""

    host: str = "127.0.0.1"
    port: int = 8100
    """0 picks a free port."""
    models: tuple[str, ...] = ("test-model",)
    """Served model names; the first labels the metrics (as vLLM's first served name does)."""
    ttft_ms: float = 0.0
    token_ms: float = 0.0
    tokens: int | None = None
    """Force every answer's length; None derives it from the prompt."""
    name: str = ""
    """Engine id, sent as the x-fake-engine header; empty means "fake-<port>"."""
    max_model_len: int = 4096
    api: str = "openai"
    """openai (vLLM's surface) or anthropic (Anthropic's Messages API: POST /v1/messages)."""
    api_key: str | None = None
    """When set, /v1/ requests must carry it (bearer for openai, x-api-key for anthropic)."""

    def validate(self) -> None:
        if self.api not in ("openai", "anthropic"):
            raise ValueError("api must be openai or anthropic")
        if not self.models or not all(self.models):
            raise ValueError("at least one non-empty model name is required")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be in [0, 65535]")
        if self.ttft_ms < 0 or self.token_ms < 0 or (self.tokens is not None and self.tokens < 0):
            raise ValueError("ttft_ms, token_ms and tokens must not be negative")

    def defaults(self) -> Behaviour:
        return Behaviour(ttft_ms=self.ttft_ms, token_ms=self.token_ms, tokens=self.tokens)


class FakeEngine:
    """Routes requests; owns the controls, the stats and the metric counters."""

    def __init__(self, config: EngineConfig, clock: Clock = time.time) -> None:
        config.validate()
        self.config = config
        self.controls = ControlBoard(config.defaults())
        self.stats = EngineStats()
        self.counters = MetricCounters()
        self._clock = clock
        anthropic = config.api == "anthropic"
        wire = ANTHROPIC_WIRE if anthropic else OPENAI_WIRE
        inference = InferenceService(config.models, self.controls, self.stats, self.counters, clock, wire)
        generation: dict[str, dict[str, Route]] = (
            {"/v1/messages": {"POST": inference.messages}}
            if anthropic
            else {
                "/v1/chat/completions": {"POST": inference.chat},
                "/v1/completions": {"POST": inference.completions},
                "/v1/embeddings": {"POST": inference.embeddings},
            }
        )
        self._routes: dict[str, dict[str, Route]] = {
            **generation,
            "/v1/models": {"GET": self._models},
            "/health": {"GET": self._health},
            "/metrics": {"GET": self._metrics},
            "/_control": {"GET": self._control_get, "POST": self._control_set},
            "/_control/reset": {"POST": self._control_reset},
            "/_stats": {"GET": self._stats_get},
            "/_stats/reset": {"POST": self._stats_reset},
        }

    async def handle(self, request: Request, responder: Responder) -> None:
        if not request.path.startswith("/_"):
            self.stats.record(request)
        if request.path.startswith("/v1/") and not self._authorized(request, responder):
            return
        methods = self._routes.get(request.path)
        if methods is None:
            responder.send(404, b'{"detail":"Not Found"}')
            return
        route = methods.get(request.method)
        if route is None:
            responder.send(405, b'{"detail":"Method Not Allowed"}', headers=[("allow", ", ".join(methods))])
            return
        await route(request, responder)

    def _authorized(self, request: Request, responder: Responder) -> bool:
        """Anthropic mode also insists on `anthropic-version`, as the real API does."""
        headers = request.headers
        if self.config.api == "anthropic":
            if "anthropic-version" not in headers:
                responder.send(400, anthropic_error_body(400, "anthropic-version: header is required"))
                return False
            presented = headers.get("x-api-key")
        else:
            presented = headers.get("authorization", "").removeprefix("Bearer ")
        if self.config.api_key is not None and presented != self.config.api_key:
            body = (
                anthropic_error_body(401, "invalid x-api-key")
                if self.config.api == "anthropic"
                else error_body(401, "invalid api key")
            )
            responder.send(401, body)
            return False
        return True

    async def _models(self, request: Request, responder: Responder) -> None:
        responder.send(200, models_body(self.config.models, self.config.max_model_len, self._clock))

    async def _health(self, request: Request, responder: Responder) -> None:
        responder.send(200 if self.controls.state.healthy else 503, b"", "text/plain; charset=utf-8")

    async def _metrics(self, request: Request, responder: Responder) -> None:
        state = self.controls.state
        body = render_metrics(
            self.config.models[0], self.stats.active, state.waiting, state.kv_cache_usage, self.counters
        )
        responder.send(200, body, METRICS_CONTENT_TYPE)

    async def _control_get(self, request: Request, responder: Responder) -> None:
        responder.send(200, orjson.dumps(self.controls.describe()))

    async def _control_set(self, request: Request, responder: Responder) -> None:
        try:
            self.controls.apply(parse_json_object(request.body))
        except ApiError as exc:
            responder.send(exc.status, exc.body())
            return
        except ControlError as exc:
            responder.send(400, error_body(400, str(exc)))
            return
        responder.send(200, orjson.dumps(self.controls.describe()))

    async def _control_reset(self, request: Request, responder: Responder) -> None:
        self.controls.reset()
        responder.send(200, orjson.dumps(self.controls.describe()))

    async def _stats_get(self, request: Request, responder: Responder) -> None:
        responder.send(200, orjson.dumps(self.stats.snapshot()))

    async def _stats_reset(self, request: Request, responder: Responder) -> None:
        self.stats.reset()
        responder.send(200, orjson.dumps(self.stats.snapshot()))
