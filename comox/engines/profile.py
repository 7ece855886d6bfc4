"""What the gateway knows about one engine kind beyond its wire format: where it reports
health, load and models, which OpenAI routes it serves, and its quirks.

Each engine kind has a small module (vllm.py, sglang.py, llamacpp.py, tgi.py, ollama.py)
that builds one `EngineProfile`, overriding only the parsers where it differs; `profiles.py`
is the table. Parsers are pure functions of the bytes the engine answered, so they are
tested on captured payloads without sockets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import orjson

from comox.engines.metrics import EngineLoad, parse_named


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model as the engine lists it."""

    id: str
    context_window: int | None = None
    """Tokens of context, where the engine reports it (vLLM max_model_len, Ollama context_length)."""
    memory_bytes: int | None = None
    """Memory the loaded model takes, where the engine reports it (Ollama size_vram)."""


def openai_models(body: bytes) -> list[ModelInfo]:
    """An OpenAI `/v1/models` list; `max_model_len` is read where the engine adds it
    (vLLM's and SGLang's ModelCard)."""
    parsed = _json(body)
    data = parsed.get("data") if isinstance(parsed, dict) else None
    out = []
    for item in data if isinstance(data, list) else ():
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            window = item.get("max_model_len")
            out.append(ModelInfo(item["id"], window if isinstance(window, int) else None))
    return out


def _json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


@dataclass(frozen=True, slots=True)
class EngineProfile:
    name: str
    health_path: bytes
    """Answers 2xx when the engine can serve (llama.cpp answers 503 while loading)."""
    metric_names: Mapping[str, str] = field(default_factory=dict)
    """Engine metric name -> EngineLoad field (running, waiting, kv_cache); empty: no /metrics."""
    load_path: bytes | None = None
    """Where load is read: /metrics for Prometheus engines, None when the engine has none."""
    models_path: bytes = b"/v1/models"
    """Lists the models the engine serves (or, for Ollama, has loaded in memory)."""
    openai_prefix: bytes = b"/v1"
    """Where the engine serves OpenAI routes (TGI and Ollama serve /v1/chat/completions too)."""
    include_usage: bool = True
    """Honours `stream_options.include_usage` (a final usage chunk on streams)."""
    reasoning_field: str | None = None
    """Field of a message/delta that carries reasoning text, when the engine emits one."""
    parse_load_body: Callable[[str], EngineLoad] | None = None
    """Overrides the Prometheus parser (llama.cpp /slots); None: parse `metric_names`."""
    parse_models: Callable[[bytes], list[ModelInfo]] = openai_models
    request_id: bool = True
    """Takes the gateway's `x-request-id`; False for llama-cpp-python's server, which answers
    400 to a request id that is not a UUID (the gateway's are not)."""

    def parse_load(self, text: str) -> EngineLoad:
        if self.parse_load_body is not None:
            return self.parse_load_body(text)
        return parse_named(self.metric_names, text)

    def context_window(self, body: bytes, model: str) -> int | None:
        """The context size of `model` from a models listing, or None if not reported."""
        for info in self.parse_models(body):
            if info.id == model:
                return info.context_window
        return None
