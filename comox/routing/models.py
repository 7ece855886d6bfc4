"""Public model names to the backends that serve them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from comox.routing.backend import Backend
from comox.server.errors import GatewayError


@dataclass(frozen=True, slots=True)
class Target:
    backend: Backend
    model: str
    """The engine's name for the model, written into the forwarded body."""


class ModelTable:
    """Resolves a public model name to the backends that serve it (the Router picks among them)."""

    def __init__(self, backends: Sequence[Backend]) -> None:
        self._targets: dict[str, list[Target]] = {}
        for backend in backends:
            for public, engine in backend.models.items():
                self._targets.setdefault(public, []).append(Target(backend, engine))
        self.names: list[str] = sorted(self._targets)

    def targets(self, model: str) -> list[Target]:
        targets = self._targets.get(model)
        if targets is None:
            shown = ", ".join(self.names[:50]) + (", ..." if len(self.names) > 50 else "")
            raise GatewayError(
                404,
                f"The model '{model}' does not exist or you do not have access to it. "
                f"Available models: {shown}.",
                code="model_not_found",
                param="model",
            )
        return targets
