"""OpenAI chat -> Anthropic Messages: requests (for Anthropic engines) and answers (for the
/v1/messages front over OpenAI-compatible engines). Pure functions.

Mapping, request side (the inverse of `anthropic_to_openai.request`):
- system and developer messages, wherever they are, -> `system` (Anthropic has one);
- content parts -> text and image blocks (data URLs as base64 sources, others as url sources);
- assistant `tool_calls` -> `tool_use` blocks; `tool` messages -> `tool_result` blocks of
  one user turn, followed by the next user message's content;
- consecutive messages of one role are merged (Anthropic alternates user and assistant);
- max_tokens/max_completion_tokens -> max_tokens (default 4096, Anthropic requires one);
  stop -> stop_sequences; temperature capped at 1 (Anthropic's range is 0..1);
  tool_choice required -> any; parallel_tool_calls false -> disable_parallel_tool_use.
Refused with 400: n > 1, audio and file parts, and non-function tools.
"""

from __future__ import annotations

import uuid
from typing import Any

from comox.server.errors import bad_request
from comox.translate import vocab


def request(payload: dict) -> dict:
    """An OpenAI chat request as an Anthropic Messages request (model name unchanged)."""
    if (payload.get("n") or 1) != 1:
        raise bad_request("'n' must be 1 for this model: its engine returns one choice.", param="n")
    system: list[str] = []
    turns: list[dict] = []
    for i, message in enumerate(payload["messages"]):
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text(message.get("content"), f"messages[{i}].content"))
            continue
        if role == "assistant":
            _append(turns, "assistant", _assistant(message, i))
        elif role == "tool":
            _append(turns, "user", [_tool_result(message, i)])
        elif role == "user":
            _append(turns, "user", _blocks(message.get("content"), f"messages[{i}].content"))
        else:
            raise bad_request(
                f"'messages[{i}].role' {role!r} cannot be sent to this model.", param=f"messages[{i}].role"
            )
    out: dict[str, Any] = {"model": payload["model"], "messages": turns}
    if system:
        out["system"] = "\n".join(system)
    limit = payload.get("max_completion_tokens") or payload.get("max_tokens")
    out["max_tokens"] = limit or vocab.DEFAULT_MAX_TOKENS
    if payload.get("temperature") is not None:
        out["temperature"] = min(float(payload["temperature"]), 1.0)
    for name in ("top_p", "top_k"):
        if payload.get(name) is not None:
            out[name] = payload[name]
    stop = payload.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if payload.get("tools"):
        out["tools"] = [_tool(t, i) for i, t in enumerate(payload["tools"])]
        choice = _tool_choice(payload.get("tool_choice"))
        if payload.get("parallel_tool_calls") is False and choice.get("type") != "none":
            choice["disable_parallel_tool_use"] = True
        if payload.get("tool_choice") is not None or "disable_parallel_tool_use" in choice:
            out["tool_choice"] = choice
    if isinstance(payload.get("user"), str):
        out["metadata"] = {"user_id": payload["user"]}
    if payload.get("stream"):
        out["stream"] = True
    return out


def _append(turns: list[dict], role: str, blocks: list[dict]) -> None:
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for j, part in enumerate(content):
        if part.get("type") != "text":
            raise bad_request(f"'{where}[{j}]' must be a text part here.", param=f"{where}[{j}]")
        texts.append(part.get("text", ""))
    return "".join(texts)


def _blocks(content: Any, where: str) -> list[dict]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            blocks.append(_image((part.get("image_url") or {}).get("url", "")))
        else:
            raise bad_request(
                f"'{where}[{j}].type' {kind!r} is not supported by this model's engine; use text or image_url.",
                param=f"{where}[{j}].type",
            )
    return blocks


def _image(url: str) -> dict:
    if url.startswith("data:") and ";base64," in url:
        media, _, data = url[5:].partition(";base64,")
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _assistant(message: dict, i: int) -> list[dict]:
    blocks = []
    text = _text(message.get("content"), f"messages[{i}].content")
    if text:
        blocks.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": vocab.tool_input(function.get("arguments")),
            }
        )
    return blocks


def _tool_result(message: dict, i: int) -> dict:
    content = message.get("content")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.get("tool_call_id")}
    if isinstance(content, str) or content is None:
        block["content"] = content or ""
    else:
        block["content"] = _blocks(content, f"messages[{i}].content")
    return block


def _tool(tool: dict, i: int) -> dict:
    if tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
        raise bad_request(f"'tools[{i}]' must be a function tool for this model.", param=f"tools[{i}]")
    function = tool["function"]
    out: dict[str, Any] = {
        "name": function.get("name"),
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _tool_choice(choice: Any) -> dict:
    if isinstance(choice, dict):
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    return {"type": {"none": "none", "required": "any"}.get(choice, "auto")}


def response(completion: dict, model: str | None = None, stop_sequences: Any = None) -> dict:
    """An OpenAI chat completion as an Anthropic Messages answer (the first choice)."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict] = []
    reasoning = vocab.reasoning_of(message)
    if reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = message.get("content")
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or tool_id(),
                "name": function.get("name"),
                "input": vocab.tool_input(function.get("arguments")),
            }
        )
    stop_reason, stop_sequence = vocab.anthropic_stop(
        choice.get("finish_reason"), choice.get("stop_reason"), stop_sequences
    )
    return {
        "id": message_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model or completion.get("model"),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": vocab.anthropic_usage(completion.get("usage")),
    }


def message_id(chat_id: Any) -> str:
    if isinstance(chat_id, str) and chat_id:
        return "msg_" + chat_id.removeprefix("chatcmpl-")
    return "msg_" + uuid.uuid4().hex


def tool_id() -> str:
    return "toolu_" + uuid.uuid4().hex[:24]
