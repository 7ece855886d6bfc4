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
    seen: int = 0
    """Outcomes recorded while closed; the window is the last `config.window` of them."""
    failed_at: deque = field(default_factory=deque)
    """Positions (in `seen`) of the failures in the window: the window as failures only, so a
    success with no recent failure costs a counter bump, not a deque append and pop."""

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
        if self.state is not CLOSED:
            self._record_trial(ok, now)
            return
        self.seen += 1
        failed_at = self.failed_at
        if not ok:
            failed_at.append(self.seen)
        elif not failed_at:
            return  # the common case: no failure in the window, nothing can open
        config = self.config
        if failed_at[0] <= self.seen - config.window:
            failed_at.popleft()  # one outcome left the window per record, so at most one failure
        size = min(self.seen, config.window)
        if size >= config.min_requests and len(failed_at) >= config.failure_ratio * size:
            self._open(now)

    def _record_trial(self, ok: bool, now: float) -> None:
        if self.state == OPEN:
            return  # a straggler from before the breaker opened
        self.trials = max(0, self.trials - 1)
        if not ok:
            self._open(now)
            return
        self.passed += 1
        if self.passed >= self.config.half_open_trials:
            self.state = CLOSED
            self.seen = 0
            self.failed_at.clear()

    def _open(self, now: float) -> None:
        self.state, self.opened_at, self.trials, self.passed = OPEN, now, 0, 0
        self.seen = 0
        self.failed_at.clear()
