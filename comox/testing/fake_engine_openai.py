"""vLLM-shaped OpenAI wire format for the fake engine: plan a request, render its answer.

Pure functions of the request body, the forced token count and a clock; no I/O.
The answer is deterministic: "echo: " + the last user message (chat) or the prompt
(completions), split into word tokens (" word", with vLLM's leading space), padded with " tok"
when a token count is forced, truncated to max_tokens (finish_reason "length").
"""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

DONE_EVENT = b"data: [DONE]\n\n"
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
class ToolCall:
    id: str
    name: str
    arguments: tuple[str, ...]
    """The JSON arguments in the fragments they are streamed in."""


@dataclass(frozen=True)
class Choice:
    tokens: tuple[str, ...]
    finish_reason: str
    reasoning: tuple[str, ...] = ()
    """Tokens of `reasoning_content`, streamed before the answer (vLLM with a reasoning parser)."""
    tool_call: ToolCall | None = None
    stop_reason: str | None = None
    """vLLM's extension: the stop string that ended the answer."""

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def steps(self) -> tuple[dict[str, Any], ...]:
        """Each streamed delta of the answer, in order: reasoning, text, then the tool call."""
        out: list[dict[str, Any]] = [{"reasoning_content": t} for t in self.reasoning]
        out += [{"content": t} for t in self.tokens]
        call = self.tool_call
        if call is not None:
            head = {
                "index": 0,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            out.append({"tool_calls": [head]})
            out += [{"tool_calls": [{"index": 0, "function": {"arguments": a}}]} for a in call.arguments]
        return tuple(out)


def plan_choice(text: str, forced: int | None, limit: int | None, stop: Any = None) -> Choice:
    tokens = ["echo:", *(" " + word for word in text.split())]
    if forced is not None:
        tokens = tokens[:forced] + [" tok"] * (forced - len(tokens))
    if limit is not None and len(tokens) > limit:
        return Choice(tuple(tokens[:limit]), "length")
    for s in [stop] if isinstance(stop, str) else stop or ():
        seen = ""
        for i, token in enumerate(tokens):
            seen += token
            if s and s in seen:
                return Choice(tuple(tokens[:i]), "stop", stop_reason=s)
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
        return sum(
            len(choice.tokens) + len(choice.reasoning) + bool(choice.tool_call) for choice in self.choices
        )

    @property
    def steps(self) -> int:
        return max(
            len(choice.steps) if self.kind == "chat" else len(choice.tokens) for choice in self.choices
        )

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
            message: dict[str, Any] = {"role": "assistant", "content": choice.text or None, "tool_calls": []}
            if choice.reasoning:
                message["reasoning_content"] = "".join(choice.reasoning)
            if choice.tool_call is not None:
                call = choice.tool_call
                function = {"name": call.name, "arguments": "".join(call.arguments)}
                message["tool_calls"] = [{"id": call.id, "type": "function", "function": function}]
            out["message"] = message
        else:
            out["text"] = choice.text
        out.update(logprobs=None, finish_reason=choice.finish_reason, stop_reason=choice.stop_reason)
        return out

    def events(self) -> Iterator[tuple[bool, bytes]]:
        """The SSE events of the stream as (paced, event); paced events start a new token step."""
        if self.kind == "chat":
            yield True, self._chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}}], None)
        for step in range(self.steps):
            first = self.kind != "chat" or step > 0
            for index, choice in enumerate(self.choices):
                if self.kind == "chat" and step < len(choice.steps):
                    yield first, self._chunk([{"index": index, "delta": choice.steps[step]}], None)
                    first = False
                elif self.kind != "chat" and step < len(choice.tokens):
                    yield first, self._chunk([self._delta(index, choice.tokens[step])], None)
                    first = False
        for index, choice in enumerate(self.choices):
            yield False, self._chunk([self._delta(index, "")], choice.finish_reason, choice.stop_reason)
        if self.include_usage:
            yield False, self._chunk([], None, usage=self.usage())
        yield False, DONE_EVENT

    def _delta(self, index: int, token: str) -> dict[str, Any]:
        if self.kind == "chat":
            return {"index": index, "delta": {"content": token}}
        return {"index": index, "text": token}

    def _chunk(
        self, choices: list[dict[str, Any]], finish: str | None, stop_reason: Any = None, usage: Any = None
    ) -> bytes:
        for choice in choices:
            choice.update(logprobs=None, finish_reason=finish)
            if finish is not None:
                choice["stop_reason"] = stop_reason
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


def plan_chat(
    body: dict[str, Any],
    models: tuple[str, ...],
    forced: int | None,
    clock: Clock,
    reasoning: bool = False,
    reply: str | None = None,
) -> Generation:
    """Echo the last user message; answer a tool result with "echo: <result>"; when tools are
    offered after a user turn, call the first one with its first property set to the user text.
    A `reply` control answers that text instead (a scripted model, e.g. one answering JSON)."""
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
    last_role = messages[-1].get("role")
    text = texts[-1] if last_role == "tool" else last_user
    choice = plan_choice(text, forced, limit, body.get("stop"))
    if reply is not None:
        tokens = tuple(re.findall(r"\s*\S+", reply))
        cut = limit is not None and len(tokens) > limit
        choice = Choice(tokens[:limit] if cut else tokens, "length" if cut else "stop")
    tools = body.get("tools")
    if tools and body.get("tool_choice") != "none" and last_role == "user":
        choice = Choice((), "tool_calls", tool_call=plan_tool_call(tools[0], last_user))
    if reasoning:
        choice = dataclasses.replace(choice, reasoning=("Let", " me", " think."))
    return Generation(
        kind="chat",
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(clock()),
        model=model,
        choices=(choice,),
        prompt_tokens=sum(word_count(t) for t in texts),
        stream=stream,
        include_usage=include_usage,
    )


def plan_tool_call(tool: dict[str, Any], text: str) -> ToolCall:
    function = tool.get("function") or {}
    properties = (function.get("parameters") or {}).get("properties") or {}
    arguments = orjson.dumps({next(iter(properties)): text} if properties else {}).decode()
    cut = len(arguments) // 2
    return ToolCall(
        f"call_{uuid.uuid4().hex[:24]}", function.get("name", "tool"), (arguments[:cut], arguments[cut:])
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
