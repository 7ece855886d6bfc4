"""Test controls of the fake engine: per-request behaviour and engine-wide control layers.

Pure code, no I/O. A generation request's behaviour is resolved in three steps:
the CLI defaults, then every active engine-wide layer (``POST /_control``, oldest first, later
layers win), then the request's own ``"fake": {...}`` field. Setting a key to ``null`` restores
the CLI default. A layer posted with ``"times": N`` applies to the next N generation requests only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_DELAY_MS = 3_600_000
MAX_TOKENS = 100_000
MAX_LAYERS = 64


class ControlError(ValueError):
    """A control body or a request's "fake" field is invalid (answered with 400)."""


@dataclass(frozen=True)
class Behaviour:
    """How the engine answers one generation request. The defaults answer normally, at once."""

    ttft_ms: float = 0.0
    """Delay before the head (non-stream) or before the first chunk (stream, after the head)."""
    head_delay_ms: float = 0.0
    """Extra delay before the response head itself."""
    token_ms: float = 0.0
    """Delay between streamed token chunks (non-stream: added up before the head)."""
    tokens: int | None = None
    """Force the answer length: truncate the echo or pad it with " tok". None: derived from the prompt."""
    fail_status: int | None = None
    """Answer with this status and an OpenAI-shaped error body (after the delays)."""
    fail_body: str | None = None
    """Raw body for fail_status instead of the error object."""
    hang: bool = False
    """Read the request and never answer; keep the connection open."""
    die_after_chunks: int | None = None
    """Stream N SSE events, then abort the TCP connection (non-stream: abort instead of answering)."""
    hang_after_chunks: int | None = None
    """Stream N SSE events, then send nothing more (non-stream: hang instead of answering)."""
    close_after_response: bool = False
    """Answer with "connection: close" and close the connection."""
    reasoning: bool = False
    """Chat answers carry reasoning first (`reasoning_content`, as vLLM with a reasoning parser)."""
    error_after_chunks: int | None = None
    """Stream N SSE events, then an error event in the engine's API family, then end the stream."""
    reply: str | None = None
    """Chat: answer with this text (split at whitespace into tokens) instead of the echo."""
    token_chars: int | None = None
    """Split every token into pieces of this many characters, one stream event each (sub-word
    tokens, as real tokenizers emit: "<", "EMA", "IL_", "1>")."""
    stream_usage: bool = True
    """False: ignore `stream_options.include_usage` and never send a usage chunk, as engines
    that do not implement it (TGI)."""


@dataclass
class EngineState:
    """Engine-wide values set through /_control (never per request)."""

    healthy: bool = True
    waiting: int = 0
    kv_cache_usage: float = 0.0


Check = Callable[[str, Any], Any]


def _number(lo: float, hi: float) -> Check:
    def check(key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise ControlError(f"{key} must be a number in [{lo}, {hi}]")
        return float(value)

    return check


def _integer(lo: int, hi: int) -> Check:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ControlError(f"{key} must be an integer in [{lo}, {hi}]")
        return value

    return check


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ControlError(f"{key} must be true or false")
    return value


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ControlError(f"{key} must be a string")
    return value


REQUEST_KEYS: dict[str, Check] = {
    "ttft_ms": _number(0, MAX_DELAY_MS),
    "head_delay_ms": _number(0, MAX_DELAY_MS),
    "token_ms": _number(0, MAX_DELAY_MS),
    "tokens": _integer(0, MAX_TOKENS),
    "fail_status": _integer(200, 599),
    "fail_body": _string,
    "hang": _boolean,
    "die_after_chunks": _integer(0, MAX_TOKENS),
    "hang_after_chunks": _integer(0, MAX_TOKENS),
    "close_after_response": _boolean,
    "reasoning": _boolean,
    "error_after_chunks": _integer(0, MAX_TOKENS),
    "token_chars": _integer(1, MAX_TOKENS),
    "reply": _string,
    "stream_usage": _boolean,
}
ENGINE_KEYS: dict[str, Check] = {
    "healthy": _boolean,
    "waiting": _integer(0, 1_000_000),
    "kv_cache_usage": _number(0, 1),
}
_times = _integer(1, 1_000_000_000)


def _parse(raw: Mapping[str, Any], allowed: Mapping[str, Check]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        check = allowed.get(key)
        if check is None:
            raise ControlError(f"unknown control key {key!r}; known: {', '.join(sorted(allowed))}")
        out[key] = None if value is None else check(key, value)
    return out


def parse_request_controls(raw: Any) -> dict[str, Any]:
    """Validate a request's "fake" field (None or absent: no overrides)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ControlError('"fake" must be a JSON object')
    return _parse(raw, REQUEST_KEYS)


@dataclass
class _Layer:
    overrides: dict[str, Any]
    remaining: int | None  # None: until reset
    model: str | None = None
    """Only requests for this model see (and use up) the layer."""


class ControlBoard:
    """Engine-wide controls: layers of behaviour overrides plus the engine state."""

    def __init__(self, defaults: Behaviour) -> None:
        self._defaults = defaults
        self._layers: list[_Layer] = []
        self.state = EngineState()

    def apply(self, raw: Any) -> None:
        """Apply a POST /_control body; validates everything before changing anything."""
        if not isinstance(raw, dict):
            raise ControlError("the control body must be a JSON object")
        body = dict(raw)
        times = body.pop("times", None)
        model = body.pop("model", None)
        if model is not None and not isinstance(model, str):
            raise ControlError("model must be a string")
        if times is not None:
            times = _times("times", times)
        engine = _parse({k: body.pop(k) for k in list(body) if k in ENGINE_KEYS}, ENGINE_KEYS)
        overrides = _parse(body, REQUEST_KEYS)
        if times is not None and not overrides:
            raise ControlError('"times" needs at least one per-request control key')
        if overrides and len(self._layers) >= MAX_LAYERS:
            raise ControlError(f"more than {MAX_LAYERS} control layers; POST /_control/reset first")
        fresh = EngineState()
        for key, value in engine.items():
            setattr(self.state, key, getattr(fresh, key) if value is None else value)
        if overrides:
            self._layers.append(_Layer(overrides, times, model))

    def reset(self) -> None:
        self._layers.clear()
        self.state = EngineState()

    def next_behaviour(self, per_request: Mapping[str, Any], model: Any = None) -> Behaviour:
        """Resolve the behaviour of the next generation request, counting it against limited layers
        (a layer scoped to a model only applies to, and is only used up by, that model's requests)."""
        merged: dict[str, Any] = {}
        for layer in self._layers:
            if layer.model is not None and layer.model != model:
                continue
            merged.update(layer.overrides)
            if layer.remaining is not None:
                layer.remaining -= 1
        self._layers = [layer for layer in self._layers if layer.remaining != 0]
        merged.update(per_request)
        return dataclasses.replace(
            self._defaults,
            **{k: getattr(self._defaults, k) if v is None else v for k, v in merged.items()},
        )

    def describe(self) -> dict[str, Any]:
        return {
            "defaults": dataclasses.asdict(self._defaults),
            "layers": [
                {"controls": layer.overrides, "remaining": layer.remaining}
                | ({"model": layer.model} if layer.model is not None else {})
                for layer in self._layers
            ],
            "engine": dataclasses.asdict(self.state),
        }
