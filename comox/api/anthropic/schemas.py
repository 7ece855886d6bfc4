"""Validation of Anthropic Messages requests: a 400 naming the field, in Anthropic's words.

Field paths are written as Anthropic writes them (`messages.1.content.0.source`), so a user
of the anthropic SDK sees the same kind of message the real API would give. Only what the
translation relies on is checked; unknown fields are ignored as they are by the translation.
"""

from __future__ import annotations

from typing import Any

from comox.server.errors import GatewayError

ROLES = ("user", "assistant")
BLOCK_FIELDS = {
    "text": {"text": str},
    "image": {"source": dict},
    "document": {"source": dict},
    "tool_use": {"id": str, "name": str, "input": dict},
    "tool_result": {"tool_use_id": str},
    "thinking": {"thinking": str},
    "redacted_thinking": {"data": str},
}
TOOL_CHOICES = ("auto", "any", "tool", "none")
_NAMES = {str: "a string", dict: "an object", list: "an array"}


def invalid(where: str, message: str) -> GatewayError:
    return GatewayError(400, f"{where}: {message}", code="invalid_request_error", param=where)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_messages(payload: dict) -> None:
    validate_common(payload)
    limit = payload.get("max_tokens")
    if limit is None:
        raise invalid("max_tokens", "Field required")
    if not _int(limit) or limit < 1:
        raise invalid("max_tokens", f"must be an integer >= 1 (got {_show(limit)})")
    for name, lo, hi in (("temperature", 0, 1), ("top_p", 0, 1)):
        value = payload.get(name)
        if value is not None and not (_number(value) and lo <= value <= hi):
            raise invalid(name, f"must be a number from {lo} to {hi} (got {_show(value)})")
    top_k = payload.get("top_k")
    if top_k is not None and not (_int(top_k) and top_k >= 0):
        raise invalid("top_k", f"must be an integer >= 0 (got {_show(top_k)})")
    stream = payload.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid("stream", f"must be true or false (got {_show(stream)})")
    stops = payload.get("stop_sequences")
    if stops is not None and not (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
        raise invalid("stop_sequences", "must be an array of strings")
    choice = payload.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in TOOL_CHOICES:
            raise invalid("tool_choice", f"must be an object with 'type' one of {', '.join(TOOL_CHOICES)}")
        if choice["type"] == "tool" and not isinstance(choice.get("name"), str):
            raise invalid("tool_choice.name", "Field required when type is 'tool'")
    metadata = payload.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise invalid("metadata", "must be an object")


def validate_common(payload: dict) -> None:
    """What /v1/messages and /v1/messages/count_tokens both require."""
    model = payload.get("model")
    if model is None:
        raise invalid("model", "Field required")
    if not isinstance(model, str) or not model:
        raise invalid("model", f"must be a non-empty string (got {_show(model)})")
    messages = payload.get("messages")
    if messages is None:
        raise invalid("messages", "Field required")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages", "must be a non-empty array of messages")
    for i, message in enumerate(messages):
        _message(message, f"messages.{i}")
    system = payload.get("system")
    if system is not None and not isinstance(system, str):
        if not isinstance(system, list):
            raise invalid("system", "must be a string or an array of text blocks")
        for j, block in enumerate(system):
            if (
                not isinstance(block, dict)
                or block.get("type") != "text"
                or not isinstance(block.get("text"), str)
            ):
                raise invalid(f"system.{j}", "must be a text block {'type': 'text', 'text': ...}")
    tools = payload.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise invalid("tools", "must be an array of tools")
        for j, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                raise invalid(f"tools.{j}.name", "Field required")
            if "input_schema" in tool and not isinstance(tool["input_schema"], dict):
                raise invalid(f"tools.{j}.input_schema", "must be a JSON schema object")


def _message(message: Any, where: str) -> None:
    if not isinstance(message, dict):
        raise invalid(where, "must be an object with 'role' and 'content'")
    role = message.get("role")
    if role not in ROLES:
        raise invalid(f"{where}.role", f"must be 'user' or 'assistant' (got {_show(role)})")
    content = message.get("content")
    if content is None:
        raise invalid(f"{where}.content", "Field required")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise invalid(
            f"{where}.content", f"must be a string or an array of content blocks (got {_show(content)})"
        )
    for j, block in enumerate(content):
        _block(block, f"{where}.content.{j}", role)


def _block(block: Any, where: str, role: str) -> None:
    if not isinstance(block, dict):
        raise invalid(where, "must be a content block object with a 'type'")
    kind = block.get("type")
    fields = BLOCK_FIELDS.get(kind)
    if fields is None:
        raise invalid(f"{where}.type", f"must be one of {', '.join(BLOCK_FIELDS)} (got {_show(kind)})")
    for name, expected in fields.items():
        value = block.get(name)
        if value is None:
            raise invalid(f"{where}.{name}", "Field required")
        if not isinstance(value, expected):
            raise invalid(f"{where}.{name}", f"must be {_NAMES[expected]} (got {_show(value)})")
    if kind == "tool_use" and role != "assistant":
        raise invalid(f"{where}.type", "tool_use blocks belong in assistant messages")
    if kind == "tool_result" and role != "user":
        raise invalid(f"{where}.type", "tool_result blocks belong in user messages")
    content = block.get("content") if kind == "tool_result" else None
    if content is not None and not isinstance(content, str | list):
        raise invalid(f"{where}.content", "must be a string or an array of content blocks")
