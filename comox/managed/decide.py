"""Which loaded models to stop: pure functions of what is loaded, the budget and the clock.

The swapper calls these under its lock and then does the process I/O itself, so the LRU and
budget rules are tested without processes or sleeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Loaded:
    """A model whose engine runs or is starting."""

    model: str
    last_used: float
    busy: bool
    """Requests in flight or waiting for it: never evicted."""
    memory: float = 0.0


@dataclass(frozen=True, slots=True)
class Budget:
    max_loaded: int | None = None
    memory: float | None = None


def plan_load(want_memory: float, loaded: Sequence[Loaded], budget: Budget) -> list[str] | None:
    """Models to evict, least recently used first, so one more model (taking `want_memory`)
    fits; [] when it fits already; None when it cannot fit until a busy model goes idle
    (or never, if `want_memory` alone exceeds the budget)."""
    if budget.memory is not None and want_memory > budget.memory:
        return None
    count = len(loaded) + 1
    memory = sum(m.memory for m in loaded) + want_memory
    victims: list[str] = []
    for candidate in sorted((m for m in loaded if not m.busy), key=lambda m: m.last_used):
        if _fits(count, memory, budget):
            break
        victims.append(candidate.model)
        count -= 1
        memory -= candidate.memory
    return victims if _fits(count, memory, budget) else None


def idle_victims(loaded: Sequence[Loaded], now: float, idle_unload: float | None) -> list[str]:
    """Models unused for longer than `idle_unload` seconds (none while busy)."""
    if idle_unload is None:
        return []
    return [m.model for m in loaded if not m.busy and now - m.last_used >= idle_unload]


def _fits(count: int, memory: float, budget: Budget) -> bool:
    if budget.max_loaded is not None and count > budget.max_loaded:
        return False
    return budget.memory is None or memory <= budget.memory + 1e-9
