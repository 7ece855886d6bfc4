"""The short-term window: token estimates and which recent turns fit. Pure.

Estimates, not tokenizer counts: the gateway fronts many models with different tokenizers,
and the budget must be decided before the model is even picked. Four characters per token
is the usual figure for English with BPE tokenizers; it errs high for plain prose, which is
the safe side for a budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MESSAGE_OVERHEAD = 4
"""Tokens a chat template adds per message (role markers, separators)."""


def estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def message_tokens(message: dict) -> int:
    content = message.get("content")
    if isinstance(content, str):
        return MESSAGE_OVERHEAD + estimate_tokens(content)
    if isinstance(content, list):
        texts = (p.get("text", "") for p in content if isinstance(p, dict))
        return MESSAGE_OVERHEAD + sum(estimate_tokens(t) for t in texts if isinstance(t, str))
    return MESSAGE_OVERHEAD


@dataclass(frozen=True, slots=True)
class Turn:
    """One stored message of a conversation."""

    id: int
    role: str
    content: str
    created_at: float

    def message(self) -> dict:
        return {"role": self.role, "content": self.content}

    @property
    def tokens(self) -> int:
        return MESSAGE_OVERHEAD + estimate_tokens(self.content)


def fit_recent(turns: Sequence[Turn], max_turns: int, budget: int) -> list[Turn]:
    """The newest turns, oldest first, at most `max_turns` and `budget` tokens together.

    A window never starts with an assistant message (a reply without its question reads
    as the agent talking to itself), so a lone leading answer is dropped.
    """
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns[-max_turns:] if max_turns else ()):
        if used + turn.tokens > budget:
            break
        kept.append(turn)
        used += turn.tokens
    kept.reverse()
    while kept and kept[0].role == "assistant":
        kept.pop(0)
    return kept


def overflow(turns: Sequence[Turn], max_turns: int) -> list[Turn]:
    """Turns that have left the window (all but the newest `max_turns`)."""
    return list(turns[:-max_turns]) if len(turns) > max_turns else []
