"""OpenAI Responses (stateless subset) <-> OpenAI chat. Pure functions.

Request: `instructions` -> a leading system message; `input` as a string -> one user message;
input items: messages (input_text/output_text/input_image parts), `function_call` -> an
assistant message with tool_calls (consecutive calls merged), `function_call_output` -> a
tool message; `reasoning` items are dropped. Function tools are flattened/unflattened,
`max_output_tokens` -> max_tokens, `text.format` -> response_format, `reasoning.effort` ->
reasoning_effort. State (`previous_response_id`, `conversation`) and built-in tools are
refused with 400: the gateway stores no responses.

Answer: reasoning -> a `reasoning` item, text -> a `message` item with `output_text`, each
tool call -> a `function_call` item, in that order; finish_reason length -> status incomplete.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from comox.server.errors import bad_request
from comox.translate import vocab

_COPIED = ("temperature", "top_p", "parallel_tool_calls", "user", "top_logprobs", "seed")


def request(payload: dict) -> dict:
    for name in ("previous_response_id", "conversation"):
        if payload.get(name) is not None:
            raise bad_request(
                f"'{name}' is not supported: this gateway is stateless; send the whole conversation in 'input'.",
                param=name,
            )
    messages: list[dict] = []
    if payload.get("instructions"):
        messages.append({"role": "system", "content": payload["instructions"]})
    items = payload["input"]
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
    else:
        for i, item in enumerate(items):
            _item(item, f"input[{i}]", messages)
    out: dict[str, Any] = {"model": payload["model"], "messages": messages}
    for name in _COPIED:
        if payload.get(name) is not None:
            out[name] = payload[name]
    if payload.get("max_output_tokens") is not None:
        out["max_tokens"] = payload["max_output_tokens"]
    if payload.get("tools"):
        out["tools"] = [_tool(t, f"tools[{i}]") for i, t in enumerate(payload["tools"])]
    choice = payload.get("tool_choice")
    if choice is not None:
        out["tool_choice"] = (
            {"type": "function", "function": {"name": choice.get("name")}}
            if isinstance(choice, dict)
            else choice
        )
    fmt = (payload.get("text") or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        out["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        out["response_format"] = {"type": "json_object"}
    effort = (payload.get("reasoning") or {}).get("effort")
    if effort:
        out["reasoning_effort"] = effort
    if payload.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _item(item: dict, where: str, messages: list[dict]) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        content = item.get("content")
        if isinstance(content, list):
            content = _parts(content, f"{where}.content")
        messages.append({"role": role, "content": content})
    elif kind == "function_call":
        call = {
            "id": item.get("call_id"),
            "type": "function",
            "function": {"name": item.get("name"), "arguments": item.get("arguments") or ""},
        }
        last = messages[-1] if messages else None
        if last and last["role"] == "assistant" and "tool_calls" in last:
            last["tool_calls"].append(call)
        elif last and last["role"] == "assistant" and last.get("content") is not None:
            last["tool_calls"] = [call]
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        if isinstance(output, list):
            output = _parts(output, f"{where}.output")
        messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": output})
    elif kind == "reasoning":
        return
    else:
        raise bad_request(f"'{where}.type' {kind!r} is not supported by this gateway.", param=f"{where}.type")


def _parts(parts: list, where: str) -> str | list[dict]:
    out: list[dict] = []
    for j, part in enumerate(parts):
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            out.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_image" and part.get("image_url"):
            out.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
        elif kind == "refusal":
            out.append({"type": "text", "text": part.get("refusal", "")})
        else:
            raise bad_request(
                f"'{where}[{j}].type' {kind!r} is not supported by this gateway.", param=f"{where}[{j}].type"
            )
    if all(p["type"] == "text" for p in out):
        return "".join(p["text"] for p in out)
    return out


def _tool(tool: dict, where: str) -> dict:
    if tool.get("type") != "function":
        raise bad_request(
            f"'{where}.type' {tool.get('type')!r} is not supported: only function tools can run on this model.",
            param=f"{where}.type",
        )
    function = {
        k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None
    }
    return {"type": "function", "function": function}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def skeleton(payload: dict, model: str, response_id: str, created: int) -> dict:
    """The Response object without output: what `response.created` announces."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": "in_progress",
        "model": model,
        "output": [],
        "error": None,
        "incomplete_details": None,
        "instructions": payload.get("instructions"),
        "max_output_tokens": payload.get("max_output_tokens"),
        "metadata": payload.get("metadata") or {},
        "parallel_tool_calls": payload.get("parallel_tool_calls", True),
        "temperature": payload.get("temperature"),
        "top_p": payload.get("top_p"),
        "tool_choice": payload.get("tool_choice", "auto"),
        "tools": payload.get("tools") or [],
        "text": payload.get("text") or {"format": {"type": "text"}},
        "reasoning": payload.get("reasoning"),
        "store": False,
        "usage": None,
    }


def usage(chat_usage: dict | None) -> dict:
    chat_usage = chat_usage or {}
    cached = int(((chat_usage.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0)
    reasoning = int(((chat_usage.get("completion_tokens_details") or {}).get("reasoning_tokens")) or 0)
    prompt = int(chat_usage.get("prompt_tokens") or 0)
    completion = int(chat_usage.get("completion_tokens") or 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + completion,
    }


def complete(response: dict, finish_reason: str | None, chat_usage: dict | None) -> dict:
    """Mark `response` done: status from the finish reason, usage in Responses' terms."""
    if finish_reason == "length":
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": "max_output_tokens"}
    elif finish_reason == "content_filter":
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": "content_filter"}
    else:
        response["status"] = "completed"
    response["usage"] = usage(chat_usage)
    return response


def reasoning_item(text: str, item_id: str | None = None) -> dict:
    return {
        "type": "reasoning",
        "id": item_id or new_id("rs"),
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}],
    }


def message_item(text: str, item_id: str | None = None, status: str = "completed") -> dict:
    return {
        "type": "message",
        "id": item_id or new_id("msg"),
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def call_item(
    call_id: str, name: str, arguments: str, item_id: str | None = None, status: str = "completed"
) -> dict:
    return {
        "type": "function_call",
        "id": item_id or new_id("fc"),
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def response(completion: dict, payload: dict, model: str) -> dict:
    """A chat completion as a Response object."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    out = skeleton(payload, model, new_id("resp"), int(completion.get("created") or time.time()))
    reasoning = vocab.reasoning_of(message)
    if reasoning:
        out["output"].append(reasoning_item(reasoning))
    if message.get("content"):
        out["output"].append(message_item(message["content"]))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        out["output"].append(
            call_item(
                call.get("id") or new_id("call"), function.get("name") or "", function.get("arguments") or ""
            )
        )
    return complete(out, choice.get("finish_reason"), completion.get("usage"))
