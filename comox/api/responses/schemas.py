"""Validation of Responses requests: the fields the translation relies on, 400 naming the field."""

from __future__ import annotations

from typing import Any

from comox.api.openai.schemas import _check_fields, _require, boolean, number_in, obj, positive_int, text
from comox.server.errors import bad_request

ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning")
ROLES = ("user", "assistant", "system", "developer")

FIELDS = {
    "model": text,
    "instructions": lambda v: None if isinstance(v, str) else "a string",
    "stream": boolean,
    "max_output_tokens": positive_int,
    "temperature": number_in(0, 2),
    "top_p": number_in(0, 1),
    "parallel_tool_calls": boolean,
    "tools": lambda v: None if isinstance(v, list) else "an array",
    "text": obj,
    "reasoning": obj,
    "metadata": obj,
}


def validate_response(payload: dict) -> None:
    _require(payload, "model", "the name of the model to use")
    _require(payload, "input", "a string, or an array of input items")
    _check_fields(payload, FIELDS)
    items = payload["input"]
    if isinstance(items, str):
        return
    if not isinstance(items, list) or not items:
        raise bad_request("'input' must be a string or a non-empty array of input items.", param="input")
    for i, item in enumerate(items):
        _item(item, f"input[{i}]")


def _item(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise bad_request(f"'{where}' must be an input item object.", param=where)
    kind = item.get("type", "message")
    if kind not in ITEM_TYPES:
        raise bad_request(
            f"'{where}.type' must be one of {', '.join(ITEM_TYPES)}; got {kind!r}.", param=f"{where}.type"
        )
    if kind == "message":
        if item.get("role") not in ROLES:
            raise bad_request(f"'{where}.role' must be one of {', '.join(ROLES)}.", param=f"{where}.role")
        if not isinstance(item.get("content"), str | list):
            raise bad_request(
                f"'{where}.content' must be a string or an array of parts.", param=f"{where}.content"
            )
    elif kind == "function_call":
        for name in ("call_id", "name", "arguments"):
            if not isinstance(item.get(name), str):
                raise bad_request(f"'{where}.{name}' is required (a string).", param=f"{where}.{name}")
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str):
            raise bad_request(f"'{where}.call_id' is required (a string).", param=f"{where}.call_id")
        if not isinstance(item.get("output"), str | list):
            raise bad_request(
                f"'{where}.output' must be a string or an array of parts.", param=f"{where}.output"
            )
