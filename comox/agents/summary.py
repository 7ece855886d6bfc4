"""The running summary: the prompt that folds turns leaving the window into it. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from comox.agents.window import Turn

INSTRUCTIONS = """You maintain the running summary of a long conversation between a user and an assistant.
Rewrite the summary so it also covers the new turns: keep names, facts, decisions, open questions and the \
user's feelings; drop pleasantries; when something changed, keep only the new state. Write plain prose in \
the third person, at most {words} words. Answer with the summary only."""


def request_body(model: str, summary: str, turns: Sequence[Turn], max_tokens: int) -> dict:
    lines = "\n".join(f"{t.role.capitalize()}: {t.content}" for t in turns)
    current = summary or "(none yet)"
    words = max(20, max_tokens * 3 // 4)
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": INSTRUCTIONS.format(words=words)},
            {"role": "user", "content": f"Current summary:\n{current}\n\nNew turns:\n{lines}"},
        ],
        "temperature": 0,
        "max_tokens": max_tokens,
    }


def clean(answer: str, limit_chars: int) -> str:
    """The model's summary, trimmed to what the budget allows (a runaway answer is cut)."""
    text = answer.strip()
    return text if len(text) <= limit_chars else text[:limit_chars].rsplit(" ", 1)[0]
