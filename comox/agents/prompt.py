"""The assembled prompt of an agent call, within its token budget. Pure.

Order: the persona (always, first, unchanged), one system message with what the agent
remembers (retrieved memories, current relations, the running summary), the recent turns,
then the client's new messages (always kept). Relations, then memories, take at most
`memory_share` of the budget left after the persona and new messages, best-scored first;
the summary comes next (at most half of what is left);
the recent turns fill the rest, newest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from comox.agents.records import Edge, Memory
from comox.agents.window import MESSAGE_OVERHEAD, Turn, estimate_tokens, fit_recent, message_tokens

MEMORY_HEAD = "What you remember about this user from earlier conversations (dated; newer wins):"
RELATIONS_HEAD = "Current relations:"
SUMMARY_HEAD = "Summary of the earlier conversation:"


@dataclass(frozen=True, slots=True)
class Assembly:
    messages: list[dict]
    tokens: int
    memories: tuple[int, ...]
    """Ids of the memories used (for hit counts)."""
    edges: int
    summary: bool
    turns: int


def day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def memory_line(memory: Memory) -> str:
    return f"- [{day(memory.created_at)}] {memory.text}"


def edge_line(edge: Edge) -> str:
    return f"- {edge.describe()} (since {day(edge.valid_from)})"


def _take(lines: Sequence[str], budget: int) -> tuple[list[int], int]:
    kept, used = [], 0
    for i, line in enumerate(lines):
        cost = estimate_tokens(line) + 1
        if used + cost > budget:
            continue
        kept.append(i)
        used += cost
    return kept, used


def assemble(
    persona: str,
    new_messages: Sequence[dict],
    recent: Sequence[Turn],
    memories: Sequence[Memory],
    edges: Sequence[Edge],
    summary: str,
    budget: int,
    memory_share: float,
    max_turns: int,
) -> Assembly:
    fixed = MESSAGE_OVERHEAD + estimate_tokens(persona) + sum(message_tokens(m) for m in new_messages)
    room = max(0, budget - fixed - MESSAGE_OVERHEAD - 3 * estimate_tokens(MEMORY_HEAD))
    edge_lines = [edge_line(e) for e in edges]  # relations first: few, short and current
    kept_edges, used_edges = _take(edge_lines, int(room * memory_share))
    memory_lines = [memory_line(m) for m in memories]
    kept_mem, used_mem = _take(memory_lines, int(room * memory_share) - used_edges)
    room -= used_mem + used_edges
    summary_cost = estimate_tokens(summary) + 1 if summary else 0
    use_summary = 0 < summary_cost <= room // 2 or (summary_cost and summary_cost <= room and not recent)
    if use_summary:
        room -= summary_cost
    window = fit_recent(recent, max_turns, room)
    sections = []
    if kept_mem:
        sections.append(MEMORY_HEAD + "\n" + "\n".join(memory_lines[i] for i in kept_mem))
    if kept_edges:
        sections.append(RELATIONS_HEAD + "\n" + "\n".join(edge_lines[i] for i in kept_edges))
    if use_summary:
        sections.append(SUMMARY_HEAD + "\n" + summary)
    messages = [{"role": "system", "content": persona}]
    if sections:
        messages.append({"role": "system", "content": "\n\n".join(sections)})
    messages += [t.message() for t in window]
    messages += new_messages
    return Assembly(
        messages=messages,
        tokens=sum(message_tokens(m) for m in messages),
        memories=tuple(memories[i].id for i in kept_mem),
        edges=len(kept_edges),
        summary=bool(use_summary),
        turns=len(window),
    )
