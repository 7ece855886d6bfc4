"""Active health state of one backend: out after N failed probes, back after M good ones.

The state is a pure function of probe outcomes; the prober that feeds it lives in
`checker.py`, so thresholds are tested without sockets or sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class HealthState:
    unhealthy_threshold: int = 2
    healthy_threshold: int = 2
    healthy: bool = True
    """Optimistic at start: the first probes run at once, and traffic should not wait for them."""
    streak: int = 0
    """Consecutive outcomes that disagree with the current state."""

    def record(self, ok: bool) -> bool:
        """Note one probe outcome; True when the state flipped."""
        if ok == self.healthy:
            self.streak = 0
            return False
        self.streak += 1
        needed = self.healthy_threshold if ok else self.unhealthy_threshold
        if self.streak < needed:
            return False
        self.healthy, self.streak = ok, 0
        return True
