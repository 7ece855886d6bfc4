"""Fact extraction: the prompt, the JSON schema, and a parser that survives bad model output.

The request asks for a strict JSON schema (engines with guided decoding, such as vLLM and
SGLang, then cannot answer anything else), but the parser assumes nothing: it finds the
first JSON object or array in the answer (code fences and chatter around it are common),
keeps every item that is valid and drops the rest. A model that answers nonsense yields no
facts, never an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from comox.agents.graph import NewEdge, entity, relation

CATEGORIES = ("preference", "event", "relationship", "place", "identity", "other")
MAX_FACTS = 20
MAX_TEXT = 500

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["facts"],
    "properties": {
        "facts": {
            "type": "array",
            "maxItems": MAX_FACTS,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["text", "category", "importance"],
                "properties": {
                    "text": {"type": "string", "maxLength": MAX_TEXT},
                    "category": {"type": "string", "enum": list(CATEGORIES)},
                    "importance": {"type": "number", "minimum": 0, "maximum": 1},
                    "subject": {"type": "string"},
                    "relation": {"type": "string"},
                    "object": {"type": "string"},
                    "single": {"type": "boolean"},
                },
            },
        }
    },
}

INSTRUCTIONS = """You extract durable facts about the user and the people, places and things in their life \
from one exchange of a conversation, for a long-term memory.
Keep only what stays true beyond this conversation: preferences, events, relationships, places, identity. \
Skip small talk, questions, and anything the assistant said that the user did not confirm.
Write each fact as one short self-contained sentence in the third person ("The user's sister is Anna.").
When a fact is a relation, also give subject, relation (snake_case, e.g. lives_in, works_at, sister_of, \
friend_of, enemy_of, likes) and object; call the user "user". Set single to true when the subject can only \
have one such object at a time (lives_in, works_at, favourite_colour), so a new one replaces the old.
Importance: 1 for identity and close relationships, 0.5 for lasting preferences, 0.2 for minor details.
Answer with JSON only: {"facts": [{"text", "category", "importance", "subject", "relation", "object", \
"single"}]}; {"facts": []} when there is nothing durable."""


@dataclass(frozen=True, slots=True)
class Fact:
    text: str
    category: str
    importance: float
    edge: NewEdge | None = None


def request_body(model: str, user_text: str, answer_text: str, known: list[str], max_tokens: int) -> dict:
    context = ""
    if known:
        context = "Relations already known (reuse these entity names):\n" + "\n".join(known) + "\n\n"
    exchange = f"{context}User: {user_text}\nAssistant: {answer_text}"
    return {
        "model": model,
        "messages": [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": exchange}],
        "temperature": 0,
        "max_tokens": max_tokens,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "facts", "strict": True, "schema": SCHEMA},
        },
    }


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def _first_json(text: str) -> Any:
    """The first parseable JSON object or array in `text` (fenced blocks first)."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        for start, ch in enumerate(candidate):
            if ch in "{[":
                try:
                    return orjson.loads(_balanced(candidate, start))
                except (orjson.JSONDecodeError, ValueError):
                    continue
    return None


def _balanced(text: str, start: int) -> str:
    """The JSON value starting at `start`: up to its matching bracket (strings respected)."""
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    raise ValueError("unbalanced")


def _fact(item: Any) -> Fact | None:
    if not isinstance(item, dict):
        return None
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    category = item.get("category")
    category = category if category in CATEGORIES else "other"
    importance = item.get("importance")
    if isinstance(importance, bool) or not isinstance(importance, int | float):
        importance = 0.5
    edge = None
    parts = [item.get(k) for k in ("subject", "relation", "object")]
    if all(isinstance(p, str) and p.strip() for p in parts):
        subject, rel, obj = entity(parts[0]), relation(parts[1]), entity(parts[2])
        if subject and rel and obj and subject != obj:
            edge = NewEdge(subject, rel, obj, item.get("single") is True)
    return Fact(text.strip()[:MAX_TEXT], category, min(1.0, max(0.0, float(importance))), edge)


def parse(answer: str) -> list[Fact]:
    """Every valid fact in the model's answer; [] for anything unusable."""
    data = _first_json(answer)
    items = data.get("facts") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return []
    facts = [f for f in map(_fact, items[:MAX_FACTS]) if f is not None]
    return list({f.text: f for f in facts}.values())
