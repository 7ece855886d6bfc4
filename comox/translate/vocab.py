"""What the two families call the same things: stop reasons, usage, tool arguments, reasoning.

Both directions live side by side so a reader sees that they are inverses.
"""

from __future__ import annotations

from typing import Any

import orjson

TO_ANTHROPIC_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
TO_OPENAI_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

DEFAULT_MAX_TOKENS = 4096
"""Anthropic requires max_tokens; an OpenAI request without one gets this."""


def anthropic_stop(finish_reason: str | None, matched: Any, stop_sequences: Any) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence) for an OpenAI finish. vLLM reports the stop string it
    matched as `stop_reason`; that is what tells `stop_sequence` apart from `end_turn`."""
    matched_ours = isinstance(matched, str) and (not stop_sequences or matched in stop_sequences)
    if finish_reason == "stop" and matched_ours:
        return "stop_sequence", matched
    return TO_ANTHROPIC_STOP.get(finish_reason or "stop", "end_turn"), None


def openai_stop(stop_reason: str | None) -> str:
    return TO_OPENAI_STOP.get(stop_reason or "end_turn", "stop")


def anthropic_usage(usage: dict | None) -> dict:
    """OpenAI usage -> Anthropic's. Anthropic counts cache reads apart from input tokens."""
    usage = usage or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    cached = int(((usage.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0)
    out = {"input_tokens": prompt - cached, "output_tokens": int(usage.get("completion_tokens") or 0)}
    if cached:
        out["cache_read_input_tokens"] = cached
    return out


def openai_usage(usage: dict | None) -> dict:
    """Anthropic usage -> OpenAI's: prompt tokens include cache reads and writes."""
    usage = usage or {}
    cached = int(usage.get("cache_read_input_tokens") or 0)
    prompt = int(usage.get("input_tokens") or 0) + cached + int(usage.get("cache_creation_input_tokens") or 0)
    completion = int(usage.get("output_tokens") or 0)
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    return out


def tool_input(arguments: Any) -> dict:
    """OpenAI's JSON-string arguments as Anthropic's input object. Arguments that are not a
    JSON object (a model's malformed output) are kept under `_arguments` rather than lost."""
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        value = orjson.loads(arguments)
    except (orjson.JSONDecodeError, TypeError):
        return {"_arguments": arguments}
    return value if isinstance(value, dict) else {"_arguments": arguments}


def tool_arguments(value: Any) -> str:
    """Anthropic's input object as OpenAI's arguments string (the inverse of `tool_input`)."""
    if isinstance(value, dict) and set(value) == {"_arguments"} and isinstance(value["_arguments"], str):
        return value["_arguments"]
    return orjson.dumps(value if value is not None else {}).decode()


def reasoning_of(message: dict) -> str | None:
    """Reasoning text of an OpenAI message or delta: vLLM's `reasoning_content`, or the newer
    `reasoning` field some engines use."""
    text = message.get("reasoning_content")
    if text is None:
        text = message.get("reasoning")
    return text if isinstance(text, str) else None
