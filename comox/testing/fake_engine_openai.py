"""vLLM-shaped OpenAI wire format for the fake engine: plan a request, render its answer.

Pure functions of the request body, the forced token count and a clock; no I/O.
The answer is deterministic: "echo: " + the last user message (chat) or the prompt
(completions), split into word tokens (" word", with vLLM's leading space), padded with " tok"
when a token count is forced, truncated to max_tokens (finish_reason "length").
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import math
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

DONE_EVENT = b"data: [DONE]\n\n"
DEFAULT_DIMENSIONS = 384
MAX_DIMENSIONS = 8192
MAX_INPUTS = 2048
ERROR_TYPES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    409: "ConflictError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}

Clock = Callable[[], float]


def error_body(status: int, message: str, param: str | None = None) -> bytes:
    """vLLM's error object: {"error": {"message", "type", "param", "code"}}."""
    kind = ERROR_TYPES.get(status) or ("InternalServerError" if status >= 500 else "BadRequestError")
    return orjson.dumps({"error": {"message": message, "type": kind, "param": param, "code": status}})


class ApiError(Exception):
    """An invalid request; rendered as an OpenAI-shaped error with this status."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param

    def body(self) -> bytes:
        return error_body(self.status, self.message, self.param)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"Invalid JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object")
    return body


def word_count(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True)
class Choice:
    tokens: tuple[str, ...]
    finish_reason: str

    @property
    def text(self) -> str:
        return "".join(self.tokens)


def plan_choice(text: str, forced: int | None, limit: int | None) -> Choice:
    tokens = ["echo:", *(" " + word for word in text.split())]
    if forced is not None:
        tokens = tokens[:forced] + [" tok"] * (forced - len(tokens))
    if limit is not None and len(tokens) > limit:
        return Choice(tuple(tokens[:limit]), "length")
    return Choice(tuple(tokens), "stop")


@dataclass(frozen=True)
class Generation:
    """A planned chat ("chat") or text ("text") completion, ready to render."""

    kind: str
    id: str
    created: int
    model: str
    choices: tuple[Choice, ...]
    prompt_tokens: int
    stream: bool
    include_usage: bool

    @property
    def completion_tokens(self) -> int:
        return sum(len(choice.tokens) for choice in self.choices)

    @property
    def steps(self) -> int:
        return max(len(choice.tokens) for choice in self.choices)

    def usage(self) -> dict[str, Any]:
        total = self.prompt_tokens + self.completion_tokens
        return {
            "prompt_tokens": self.prompt_tokens,
            "total_tokens": total,
            "completion_tokens": self.completion_tokens,
            "prompt_tokens_details": None,
        }

    def body(self) -> bytes:
        """The non-stream response."""
        choices = [self._full_choice(i, choice) for i, choice in enumerate(self.choices)]
        obj = "chat.completion" if self.kind == "chat" else "text_completion"
        return orjson.dumps(
            {
                "id": self.id,
                "object": obj,
                "created": self.created,
                "model": self.model,
                "choices": choices,
                "usage": self.usage(),
                "prompt_logprobs": None,
            }
        )

    def _full_choice(self, index: int, choice: Choice) -> dict[str, Any]:
        out: dict[str, Any] = {"index": index}
        if self.kind == "chat":
            out["message"] = {"role": "assistant", "content": choice.text, "tool_calls": []}
        else:
            out["text"] = choice.text
        out.update(logprobs=None, finish_reason=choice.finish_reason, stop_reason=None)
        return out

    def events(self) -> Iterator[tuple[bool, bytes]]:
        """The SSE events of the stream as (paced, event); paced events start a new token step."""
        if self.kind == "chat":
            yield True, self._chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}}], None)
        for step in range(self.steps):
            first = self.kind != "chat" or step > 0
            for index, choice in enumerate(self.choices):
                if step < len(choice.tokens):
                    yield first, self._chunk([self._delta(index, choice.tokens[step])], None)
                    first = False
        for index, choice in enumerate(self.choices):
            yield False, self._chunk([self._delta(index, "")], choice.finish_reason)
        if self.include_usage:
            yield False, self._chunk([], None, usage=self.usage())
        yield False, DONE_EVENT

    def _delta(self, index: int, token: str) -> dict[str, Any]:
        if self.kind == "chat":
            return {"index": index, "delta": {"content": token}}
        return {"index": index, "text": token}

    def _chunk(self, choices: list[dict[str, Any]], finish: str | None, usage: Any = None) -> bytes:
        for choice in choices:
            choice.update(logprobs=None, finish_reason=finish)
            if finish is not None:
                choice["stop_reason"] = None
        obj = "chat.completion.chunk" if self.kind == "chat" else "text_completion"
        chunk = {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if usage is not None:
            chunk["usage"] = usage
        return b"data: " + orjson.dumps(chunk) + b"\n\n"


def split_tokens(job: Generation, size: int) -> Generation:
    """The same answer with every token cut into pieces of `size` characters."""
    choices = tuple(
        Choice(tuple(t[i : i + size] for t in c.tokens for i in range(0, len(t), size)), c.finish_reason)
        for c in job.choices
    )
    return dataclasses.replace(job, choices=choices)


def resolve_model(body: dict[str, Any], models: tuple[str, ...]) -> str:
    model = body.get("model")
    if model is None:
        return models[0]
    if not isinstance(model, str):
        raise ApiError(400, "model must be a string", "model")
    if model not in models:
        raise ApiError(404, f"The model `{model}` does not exist.", "model")
    return model


def _limit(body: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ApiError(400, f"{key} must be a non-negative integer", key)
        return value
    return None


def _stream_flags(body: dict[str, Any]) -> tuple[bool, bool]:
    stream = body.get("stream") or False
    options = body.get("stream_options") or {}
    if not isinstance(stream, bool) or not isinstance(options, dict):
        raise ApiError(400, "stream must be a boolean and stream_options an object", "stream")
    return stream, stream and bool(options.get("include_usage"))


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text")
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def plan_chat(body: dict[str, Any], models: tuple[str, ...], forced: int | None, clock: Clock) -> Generation:
    model = resolve_model(body, models)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise ApiError(400, "messages must be a non-empty list of message objects", "messages")
    texts = [_content_text(m.get("content")) for m in messages]
    last_user = next(
        (t for m, t in zip(reversed(messages), reversed(texts), strict=True) if m.get("role") == "user"), ""
    )
    limit = _limit(body, "max_completion_tokens", "max_tokens")
    stream, include_usage = _stream_flags(body)
    return Generation(
        kind="chat",
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(clock()),
        model=model,
        choices=(plan_choice(last_user, forced, limit),),
        prompt_tokens=sum(word_count(t) for t in texts),
        stream=stream,
        include_usage=include_usage,
    )


def _is_ids(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in value)


def _prompts(prompt: Any, param: str) -> list[tuple[str, int]]:
    """(text, token count) per prompt: a string, a list of strings, token ids, or lists of token ids."""
    if isinstance(prompt, str):
        return [(prompt, word_count(prompt))]
    if _is_ids(prompt) and prompt:
        return [(" ".join(map(str, prompt)), len(prompt))]
    if isinstance(prompt, list) and 0 < len(prompt) <= MAX_INPUTS:
        if all(isinstance(p, str) for p in prompt):
            return [(p, word_count(p)) for p in prompt]
        if all(_is_ids(p) for p in prompt):
            return [(" ".join(map(str, p)), len(p)) for p in prompt]
    raise ApiError(
        400, f"{param} must be a string, a list of strings or token ids (at most {MAX_INPUTS})", param
    )


def plan_text(body: dict[str, Any], models: tuple[str, ...], forced: int | None, clock: Clock) -> Generation:
    model = resolve_model(body, models)
    prompts = _prompts(body.get("prompt"), "prompt")
    limit = _limit(body, "max_tokens")
    stream, include_usage = _stream_flags(body)
    return Generation(
        kind="text",
        id=f"cmpl-{uuid.uuid4().hex}",
        created=int(clock()),
        model=model,
        choices=tuple(plan_choice(text, forced, limit) for text, _ in prompts),
        prompt_tokens=sum(n for _, n in prompts),
        stream=stream,
        include_usage=include_usage,
    )


def embedding_vector(key: bytes, dimensions: int) -> list[float]:
    """A deterministic unit vector derived from a hash of the input."""
    raw = hashlib.shake_256(key).digest(2 * dimensions)
    values = [v - 32767.5 for v in struct.unpack(f"<{dimensions}H", raw)]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


@dataclass(frozen=True)
class Embeddings:
    """A planned embeddings answer (never streamed)."""

    body_bytes: bytes
    prompt_tokens: int
    stream = False
    steps = 0
    completion_tokens = 0
    choices = ()

    def body(self) -> bytes:
        return self.body_bytes


def plan_embeddings(body: dict[str, Any], models: tuple[str, ...], clock: Clock) -> Embeddings:
    model = resolve_model(body, models)
    inputs = _prompts(body.get("input"), "input")
    dimensions = body.get("dimensions") or DEFAULT_DIMENSIONS
    if (
        isinstance(dimensions, bool)
        or not isinstance(dimensions, int)
        or not 0 < dimensions <= MAX_DIMENSIONS
    ):
        raise ApiError(400, f"dimensions must be an integer in [1, {MAX_DIMENSIONS}]", "dimensions")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise ApiError(400, 'encoding_format must be "float" or "base64"', "encoding_format")
    data = []
    for index, (text, _) in enumerate(inputs):
        vector: Any = embedding_vector(text.encode(), dimensions)
        if encoding == "base64":
            vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        data.append({"index": index, "object": "embedding", "embedding": vector})
    tokens = sum(n for _, n in inputs)
    usage = {
        "prompt_tokens": tokens,
        "total_tokens": tokens,
        "completion_tokens": 0,
        "prompt_tokens_details": None,
    }
    out = {"id": f"embd-{uuid.uuid4().hex}", "object": "list", "created": int(clock()), "model": model}
    return Embeddings(orjson.dumps({**out, "data": data, "usage": usage}), tokens)


def models_body(models: tuple[str, ...], max_model_len: int, clock: Clock = time.time) -> bytes:
    created = int(clock())
    data = [
        {
            "id": name,
            "object": "model",
            "created": created,
            "owned_by": "vllm",
            "root": name,
            "parent": None,
            "max_model_len": max_model_len,
            "permission": [],
        }
        for name in models
    ]
    return orjson.dumps({"object": "list", "data": data})
