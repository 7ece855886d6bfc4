"""Validation of OpenAI request bodies.

Checks run on the already-parsed dict and look only at the fields the gateway relies on or
that an engine would reject with a worse message; unknown fields pass through untouched,
because engines accept their own extensions (vLLM's `guided_json`, `top_k`, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from comox.server.errors import bad_request

Check = Callable[[Any], str | None]
"""Returns None when the value is acceptable, else what was expected."""

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def text(v: Any) -> str | None:
    return None if isinstance(v, str) and v else "a non-empty string"


def boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else "true or false"


def integer(v: Any) -> str | None:
    return None if _is_int(v) else "an integer"


def positive_int(v: Any) -> str | None:
    return None if _is_int(v) and v >= 1 else "an integer >= 1"


def non_negative_int(v: Any) -> str | None:
    return None if _is_int(v) and v >= 0 else "an integer >= 0"


def number_in(lo: float, hi: float) -> Check:
    def check(v: Any) -> str | None:
        return None if _is_num(v) and lo <= v <= hi else f"a number from {lo:g} to {hi:g}"

    return check


def obj(v: Any) -> str | None:
    return None if isinstance(v, dict) else "a JSON object"


def stop(v: Any) -> str | None:
    ok = isinstance(v, str) or (isinstance(v, list) and all(isinstance(s, str) for s in v))
    return None if ok else "a string or an array of strings"


def prompt_like(v: Any) -> str | None:
    """A string, strings, token ids, or lists of token ids (the forms engines accept)."""
    if isinstance(v, str):
        return None
    if isinstance(v, list) and v:
        if all(isinstance(s, str) for s in v) or all(_is_int(t) for t in v):
            return None
        if all(isinstance(s, list) and s and all(_is_int(t) for t in s) for s in v):
            return None
    return "a string, an array of strings, or an array of token ids"


SAMPLING: dict[str, Check] = {
    "stream": boolean,
    "max_tokens": positive_int,
    "max_completion_tokens": positive_int,
    "temperature": number_in(0, 2),
    "top_p": number_in(0, 1),
    "n": positive_int,
    "presence_penalty": number_in(-2, 2),
    "frequency_penalty": number_in(-2, 2),
    "seed": integer,
    "stop": stop,
    "stream_options": obj,
    "logit_bias": obj,
}

CHAT = {"model": text, **SAMPLING, "tools": lambda v: None if isinstance(v, list) else "an array"}
COMPLETION = {"model": text, **SAMPLING, "echo": boolean}
EMBEDDING = {
    "model": text,
    "dimensions": positive_int,
    "encoding_format": lambda v: None if v in ("float", "base64") else "'float' or 'base64'",
}


def _check_fields(payload: dict, checks: dict[str, Check]) -> None:
    for name in checks.keys() & payload.keys():
        value = payload[name]
        if value is not None:
            expected = checks[name](value)
            if expected is not None:
                raise bad_request(f"'{name}' must be {expected}; got {_show(value)}.", param=name)


def _require(payload: dict, name: str, what: str) -> None:
    if payload.get(name) is None:
        raise bad_request(f"'{name}' is required: {what}.", param=name, code="missing_field")


def _show(v: Any) -> str:
    text = repr(v) if not isinstance(v, str) else f"'{v}'"
    return text if len(text) <= 60 else text[:57] + "..."


def validate_chat(payload: dict) -> None:
    messages = payload.get("messages")
    if payload.get("model") is None:
        _require(payload, "model", "the name of the model to use")
    if messages is None:
        _require(payload, "messages", "the conversation as an array of messages")
    _check_fields(payload, CHAT)
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty array of message objects.", param="messages")
    for i, message in enumerate(messages):  # runs per message of every request: no work unless wrong
        if not isinstance(message, dict):
            where = f"messages[{i}]"
            raise bad_request(f"'{where}' must be an object with 'role' and 'content'.", param=where)
        role = message.get("role")
        if role not in ROLES:
            raise bad_request(
                f"'messages[{i}].role' must be one of {', '.join(sorted(ROLES))}; got {_show(role)}.",
                param=f"messages[{i}].role",
            )
        content = message.get("content")
        if isinstance(content, (str, list)):
            continue
        where = f"messages[{i}].content"
        if content is None:
            if role == "assistant" and (message.get("tool_calls") or message.get("function_call")):
                continue
            raise bad_request(f"'{where}' is required.", param=where, code="missing_field")
        raise bad_request(
            f"'{where}' must be a string or an array of content parts; got {_show(content)}.", param=where
        )
    if payload.get("stream_options") is not None:
        _check_stream_options(payload)


def validate_completion(payload: dict) -> None:
    _require(payload, "model", "the name of the model to use")
    _require(payload, "prompt", "the text to complete")
    _check_fields(payload, COMPLETION)
    expected = prompt_like(payload["prompt"])
    if expected is not None:
        raise bad_request(f"'prompt' must be {expected}.", param="prompt")
    _check_stream_options(payload)


def validate_embedding(payload: dict) -> None:
    _require(payload, "model", "the name of the embedding model to use")
    _require(payload, "input", "the text (or texts) to embed")
    _check_fields(payload, EMBEDDING)
    expected = prompt_like(payload["input"])
    if expected is not None:
        raise bad_request(f"'input' must be {expected}.", param="input")


def _check_stream_options(payload: dict) -> None:
    if payload.get("stream_options") is not None and payload.get("stream") is not True:
        raise bad_request("'stream_options' is only allowed when 'stream' is true.", param="stream_options")
