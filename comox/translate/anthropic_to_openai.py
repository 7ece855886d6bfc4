"""Anthropic Messages -> OpenAI chat: requests (for the /v1/messages front) and answers (from
Anthropic engines). Pure functions; a request field that chat cannot express is a 400 naming it.

Mapping, request side:
- `system` (string or text blocks) -> a leading system message;
- user text and image blocks -> content parts (base64 images as data URLs);
- assistant `tool_use` blocks -> `tool_calls` (input object as JSON arguments);
- user `tool_result` blocks -> `tool` messages placed before the rest of that user turn;
- `thinking` blocks of earlier turns are dropped (engines do not take them back);
- stop_sequences -> stop, tools/input_schema -> function tools, tool_choice any -> required,
  disable_parallel_tool_use -> parallel_tool_calls false, metadata.user_id -> user.
"""

from __future__ import annotations

import time
from typing import Any

from comox.server.errors import bad_request
from comox.translate import vocab

_SAMPLING = ("max_tokens", "temperature", "top_p", "top_k")


def request(payload: dict) -> dict:
    """An Anthropic Messages request as an OpenAI chat request (model name unchanged)."""
    messages: list[dict] = []
    system = payload.get("system")
    if system:
        messages.append({"role": "system", "content": _system_text(system)})
    for i, message in enumerate(payload["messages"]):
        messages += _message(message, f"messages.{i}")
    out: dict[str, Any] = {"model": payload["model"], "messages": messages}
    for name in _SAMPLING:
        if payload.get(name) is not None:
            out[name] = payload[name]
    if payload.get("stop_sequences"):
        out["stop"] = list(payload["stop_sequences"])
    if payload.get("tools"):
        out["tools"] = [_tool(t, f"tools.{i}") for i, t in enumerate(payload["tools"])]
    if payload.get("tool_choice") is not None:
        _tool_choice(payload["tool_choice"], out)
    user = (payload.get("metadata") or {}).get("user_id")
    if isinstance(user, str):
        out["user"] = user
    if payload.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    return "\n".join(block.get("text", "") for block in system if isinstance(block, dict))


def _message(message: dict, where: str) -> list[dict]:
    role, content = message["role"], message["content"]
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if role == "assistant":
        return [_assistant(content, where)]
    tools: list[dict] = []
    parts: list[dict] = []
    for j, block in enumerate(content):
        kind = block.get("type")
        if kind == "tool_result":
            tools.append(_tool_result(block, f"{where}.content.{j}"))
        else:
            parts.append(_part(block, f"{where}.content.{j}"))
    out = tools
    if parts:
        out.append({"role": "user", "content": _collapse(parts)})
    return out


def _collapse(parts: list[dict]) -> str | list[dict]:
    """A single text part is sent as a plain string, the form every engine accepts."""
    if len(parts) == 1 and parts[0]["type"] == "text":
        return parts[0]["text"]
    return parts


def _part(block: dict, where: str) -> dict:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": block["text"]}
    if kind == "image":
        source = block.get("source") or {}
        if source.get("type") == "base64":
            url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
        elif source.get("type") == "url":
            url = source.get("url", "")
        else:
            raise bad_request(f"'{where}.source.type' must be 'base64' or 'url'.", param=f"{where}.source")
        return {"type": "image_url", "image_url": {"url": url}}
    if kind == "document" and (block.get("source") or {}).get("type") == "text":
        return {"type": "text", "text": block["source"].get("data", "")}
    raise bad_request(
        f"'{where}.type' {kind!r} is not supported for this model's engine; use text or image blocks.",
        param=f"{where}.type",
    )


def _assistant(content: list[dict], where: str) -> dict:
    texts: list[str] = []
    calls: list[dict] = []
    for j, block in enumerate(content):
        kind = block.get("type")
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block["id"],
                    "type": "function",
                    "function": {
                        "name": block["name"],
                        "arguments": vocab.tool_arguments(block.get("input")),
                    },
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise bad_request(
                f"'{where}.content.{j}.type' {kind!r} is not allowed in an assistant turn here.",
                param=f"{where}.content.{j}.type",
            )
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        out["tool_calls"] = calls
    return out


def _tool_result(block: dict, where: str) -> dict:
    content = block.get("content")
    if content is None:
        text: Any = ""
    elif isinstance(content, str):
        text = content
    else:
        parts = [_part(b, f"{where}.content.{k}") for k, b in enumerate(content)]
        text = _collapse(parts) if parts else ""
    return {"role": "tool", "tool_call_id": block["tool_use_id"], "content": text}


def _tool(tool: dict, where: str) -> dict:
    if tool.get("type") not in (None, "custom") or "input_schema" not in tool:
        raise bad_request(
            f"'{where}' is a server tool ({tool.get('type')!r}); only client tools with "
            "'name' and 'input_schema' can be served by this model's engine.",
            param=where,
        )
    function: dict[str, Any] = {"name": tool["name"], "parameters": tool["input_schema"]}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: dict, out: dict) -> None:
    kind = choice.get("type")
    if kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        out["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False


def response(message: dict, model: str | None = None, created: int | None = None) -> dict:
    """An Anthropic Messages answer as an OpenAI chat completion."""
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict] = []
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "thinking":
            thinking.append(block.get("thinking", ""))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": vocab.tool_arguments(block.get("input")),
                    },
                }
            )
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if thinking:
        reply["reasoning_content"] = "".join(thinking)
    if calls:
        reply["tool_calls"] = calls
    choice: dict[str, Any] = {
        "index": 0,
        "message": reply,
        "finish_reason": vocab.openai_stop(message.get("stop_reason")),
        "logprobs": None,
    }
    if message.get("stop_sequence") is not None:
        choice["stop_reason"] = message["stop_sequence"]
    return {
        "id": chat_id(message.get("id")),
        "object": "chat.completion",
        "created": int(created if created is not None else time.time()),
        "model": model or message.get("model"),
        "choices": [choice],
        "usage": vocab.openai_usage(message.get("usage")),
    }


def chat_id(message_id: Any) -> str:
    return f"chatcmpl-{message_id}" if isinstance(message_id, str) else "chatcmpl-anthropic"
