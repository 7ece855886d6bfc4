"""How the gateway speaks to each engine family: one adapter class per wire format.

An adapter turns the call's canonical request (OpenAI chat, plus the client's own request
when it came through another API family) into the engine's request, and says how to read
the engine's answers and errors back into chat. Adapters are chosen by engine kind when a
backend is built, so no request ever asks "which provider is this?".

OpenAI-compatible engines (vLLM, SGLang, llama.cpp, TGI, Ollama, OpenAI) use
`OpenAIAdapter`, which dispatch skips entirely for OpenAI clients (`translates` False): their
bytes go through untouched, as before adapters existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import orjson

from comox.engines.profiles import PROFILES
from comox.engines.stream_usage import CountedUsage, estimate_prompt_tokens
from comox.server.errors import GatewayError
from comox.translate import openai_to_anthropic
from comox.translate.stream_openai_from_anthropic import AnthropicToChat

if TYPE_CHECKING:
    from comox.api.call import AnswerFilter, Call

CHAT_PATH = b"/v1/chat/completions"
MESSAGES_PATH = b"/v1/messages"
ANTHROPIC_VERSION = "2023-06-01"


@dataclass(frozen=True, slots=True)
class Upstream:
    """One attempt's request to the engine and how to read its answer."""

    path: bytes
    body: bytes
    decode: AnswerFilter | None = None
    """The engine's answer into chat form; None when it already is chat (or native)."""
    native: bool = False
    """The engine speaks the client's family: its answer goes to the client untranslated."""


class EngineAdapter(Protocol):
    translates: bool
    """False when OpenAI chat requests pass through unchanged (dispatch's fast path)."""
    stream_usage: bool
    """The engine sends a usage chunk when asked; False: streams go through `request`, which
    adds one (comox.engines.stream_usage)."""

    def request(self, call: Call, engine_model: str, path: bytes) -> Upstream: ...

    def error(self, backend: str, status: int, body: bytes) -> GatewayError: ...

    def auth_headers(self, api_key: str | None) -> list[str]: ...


def _with_model(payload: dict, engine_model: str) -> bytes:
    return orjson.dumps({**payload, "model": engine_model})


def _without_include_usage(payload: dict) -> dict:
    options = payload.get("stream_options")
    if not isinstance(options, dict) or "include_usage" not in options:
        return payload
    out = {k: v for k, v in payload.items() if k != "stream_options"}
    rest = {k: v for k, v in options.items() if k != "include_usage"}
    if rest:
        out["stream_options"] = rest
    return out


class OpenAIAdapter:
    """Engines that speak OpenAI chat; `families` are other client families they serve natively
    (OpenAI's own API serves Responses)."""

    translates = False

    def __init__(self, families: frozenset[str] = frozenset(), stream_usage: bool = True) -> None:
        self.families = families
        self.stream_usage = stream_usage

    def request(self, call: Call, engine_model: str, path: bytes) -> Upstream:
        front = call.front
        if front is not None and front.family in self.families and not call.payload_changed:
            return Upstream(front.path, _with_model(front.native, engine_model), native=True)
        if self.stream_usage or not call.stream:
            return Upstream(path, _with_model(call.payload, engine_model))
        payload = _without_include_usage(call.payload)  # the engine would refuse or ignore it
        counted = CountedUsage(call.api, engine_model, estimate_prompt_tokens(payload))
        return Upstream(path, _with_model(payload, engine_model), counted)

    def error(self, backend: str, status: int, body: bytes) -> GatewayError:
        parsed = _json(body)
        error = parsed.get("error") if parsed is not None else None
        if isinstance(error, dict):
            return GatewayError(
                status,
                str(error.get("message") or f"Backend '{backend}' answered {status}."),
                code=error.get("code") if isinstance(error.get("code"), str) else None,
                param=error.get("param") if isinstance(error.get("param"), str) else None,
                type=error.get("type") if isinstance(error.get("type"), str) else None,
            )
        if parsed is not None and parsed.get("object") == "error":  # older vLLM
            return GatewayError(status, str(parsed.get("message")), type=parsed.get("type"))
        return _opaque(backend, status, body)

    def auth_headers(self, api_key: str | None) -> list[str]:
        return [f"authorization: Bearer {api_key}"] if api_key else []


class AnthropicAdapter:
    """Anthropic's Messages API: chat requests are translated to it, its answers back to chat."""

    translates = True
    stream_usage = True  # its usage events become the chat usage chunk (AnthropicToChat)

    def request(self, call: Call, engine_model: str, path: bytes) -> Upstream:
        if call.api != "chat":
            raise GatewayError(
                400,
                f"'{call.model}' is served by an Anthropic backend, which only answers chat; "
                f"{call.api} requests are not supported for it.",
                code="unsupported_api",
                param="model",
            )
        body = openai_to_anthropic.request({**call.payload, "model": engine_model})
        include_usage = bool((call.payload.get("stream_options") or {}).get("include_usage"))
        return Upstream(MESSAGES_PATH, orjson.dumps(body), AnthropicToChat(call.model, include_usage))

    def error(self, backend: str, status: int, body: bytes) -> GatewayError:
        parsed = _json(body)
        error = parsed.get("error") if parsed is not None else None
        if isinstance(error, dict):
            kind = error.get("type") if isinstance(error.get("type"), str) else None
            return GatewayError(status, str(error.get("message") or kind), code=kind, type=kind)
        return _opaque(backend, status, body)

    def auth_headers(self, api_key: str | None) -> list[str]:
        lines = [f"anthropic-version: {ANTHROPIC_VERSION}"]
        if api_key:
            lines.append(f"x-api-key: {api_key}")
        return lines


def _json(body: bytes) -> dict | None:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _opaque(backend: str, status: int, body: bytes) -> GatewayError:
    detail = body[:300].decode("utf-8", "replace").strip()
    message = f"Backend '{backend}' answered {status}" + (f": {detail}" if detail else ".")
    return GatewayError(status, message, code="upstream_error")


OPENAI_COMPATIBLE = OpenAIAdapter()
ADAPTERS: dict[str, EngineAdapter] = {
    **{name: OpenAIAdapter(stream_usage=False) for name, p in PROFILES.items() if not p.include_usage},
    "openai": OpenAIAdapter(frozenset({"responses"})),
    "anthropic": AnthropicAdapter(),
}


def for_engine(engine: str) -> EngineAdapter:
    """The adapter of an engine kind; every kind not listed speaks OpenAI chat."""
    return ADAPTERS.get(engine, OPENAI_COMPATIBLE)
