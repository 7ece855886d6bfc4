"""comox with its routing layer taken out, everything else as shipped: what `bench/routing.sh`
compares the gateway with to measure what the routing layer costs.

Taken out: the router's choice (health, ejection, breaker, capacity and load checks, the
balancer) becomes plain rotation over the model's backends, and the breaker and outlier
detector record nothing. Give it a config with `routing.health` and `routing.scrape` off, so
no background probe or metrics scrape runs either.

    .venv/bin/python bench/routing_off.py serve --config FILE [--port P]     (as `comox`)
"""

from __future__ import annotations

import itertools
import sys

from comox import cli
from comox.routing.router import Router
from comox.routing.state import BackendState


class NoBreaker:
    state = "closed"

    def allow(self, now: float) -> bool:
        return True

    def can_try(self, now: float) -> bool:
        return True

    def record(self, ok: bool, now: float) -> None:
        pass


class NoOutlier:
    ejected_until = 0.0

    def record(self, ok: bool, now: float) -> bool:
        return False


_turns = itertools.count()


def rotate(self: Router, model: str, call, tried, now: float):
    targets = self.table.targets(model)
    for _ in range(len(targets)):
        target = targets[next(_turns) % len(targets)]
        if target.backend not in tried:
            return target
    return None


def without_routing() -> None:
    """Patch the classes, before any gateway is built."""
    Router.choose = rotate  # type: ignore[method-assign]
    built = BackendState.from_config

    def state_from_config(config) -> BackendState:
        state = built(config)
        state.breaker, state.outlier = NoBreaker(), NoOutlier()  # type: ignore[assignment]
        return state

    BackendState.from_config = staticmethod(state_from_config)  # type: ignore[method-assign]


if __name__ == "__main__":
    without_routing()
    sys.exit(cli.main(sys.argv[1:]))
