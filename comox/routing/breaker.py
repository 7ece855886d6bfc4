"""Circuit breaker per backend on the failure ratio of its recent requests.

Closed: requests flow and outcomes fill a window. Open: nothing flows for `open_for`
seconds. Half-open: a few trial requests at once; all succeeding closes the breaker, one
failing opens it again. Only `can_try`, `allow` and `record` touch the state.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from comox.config.routing import BreakerConfig

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(slots=True)
class Breaker:
    config: BreakerConfig
    state: str = CLOSED
    opened_at: float = 0.0
    trials: int = 0
    """Trial requests in flight while half-open."""
    passed: int = 0
    """Trials that succeeded since the breaker went half-open."""
    window: deque = field(default_factory=deque)
    failures: int = 0

    def can_try(self, now: float) -> bool:
        """Would `allow` let a request through now? (Reserves nothing.)"""
        if self.state is CLOSED:
            return True
        if self.state == OPEN:
            return now - self.opened_at >= self.config.open_for
        return self.trials < self.config.half_open_trials

    def allow(self, now: float) -> bool:
        """Let one request through, taking a trial slot when half-open."""
        if self.state is CLOSED:
            return True
        if not self.can_try(now):
            return False
        if self.state == OPEN:
            self.state, self.trials, self.passed = HALF_OPEN, 0, 0
        if self.state == HALF_OPEN:
            self.trials += 1
        return True

    def record(self, ok: bool, now: float) -> None:
        if self.state == HALF_OPEN:
            self.trials = max(0, self.trials - 1)
            if not ok:
                self._open(now)
            else:
                self.passed += 1
                if self.passed >= self.config.half_open_trials:
                    self.state = CLOSED
                    self.window.clear()
                    self.failures = 0
            return
        if self.state == OPEN:
            return  # a straggler from before the breaker opened
        self.window.append(ok)
        self.failures += not ok
        if len(self.window) > self.config.window:
            self.failures -= not self.window.popleft()
        size = len(self.window)
        if size >= self.config.min_requests and self.failures >= self.config.failure_ratio * size:
            self._open(now)

    def _open(self, now: float) -> None:
        self.state, self.opened_at, self.trials, self.passed = OPEN, now, 0, 0
        self.window.clear()
        self.failures = 0
