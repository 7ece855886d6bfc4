"""Passive outlier detection: a backend that keeps failing on real traffic is ejected.

Like Envoy's detector: N consecutive failures (connect errors, 5xx, timeouts) eject the
backend for `base_ejection` times the number of ejections, capped; a backend that has behaved for a
while has its count forgiven. Decisions take the time as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass

from comox.config.routing import OutlierConfig


@dataclass(slots=True)
class OutlierDetector:
    config: OutlierConfig
    consecutive: int = 0
    ejections: int = 0
    ejected_until: float = 0.0

    def ejected(self, now: float) -> bool:
        return now < self.ejected_until

    def record(self, ok: bool, now: float) -> bool:
        """Note one outcome on real traffic; True when it ejected the backend."""
        if ok:
            self.consecutive = 0
            if self.ejections and now - self.ejected_until > self.config.max_ejection:
                self.ejections = 0
            return False
        self.consecutive += 1
        if self.consecutive < self.config.consecutive_failures or self.ejected(now):
            return False
        self.ejections += 1
        self.consecutive = 0
        duration = min(self.config.base_ejection * self.ejections, self.config.max_ejection)
        self.ejected_until = now + duration
        return True

    def uneject(self) -> None:
        self.ejected_until = 0.0
        self.consecutive = 0
