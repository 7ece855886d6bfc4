"""A fixed-bucket histogram kept as plain numbers, cheap enough for every request.

Observing is one `bisect` on precomputed bounds and two additions; nothing is rendered
until a scrape. Counts are per bucket (not cumulative) so two histograms merge by adding.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Seconds: whole requests, from a cached answer to a long generation."""
TTFT_BOUNDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds to the first token."""
TOKEN_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.25, 0.5, 1.0)
"""Seconds between two output tokens."""


@dataclass(slots=True, eq=False)
class Histogram:
    bounds: tuple[float, ...]
    """Upper bounds (le) in increasing order; +Inf is implied as the last bucket."""
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def add(self, other: Histogram) -> None:
        """Merge `other` (same bounds) into this one."""
        for i, n in enumerate(other.counts):
            self.counts[i] += n
        self.total += other.total
