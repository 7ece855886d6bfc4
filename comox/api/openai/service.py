"""The OpenAI-compatible inference API: validate, pick a backend, rename the model, proxy."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from comox.proxy.forward import forward
from comox.routing.models import ModelTable
from comox.server.connection import Connection
from comox.server.request import Request


class OpenAIService:
    def __init__(self, models: ModelTable) -> None:
        self.models = models
        self.models_body = orjson.dumps(
            {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "created": 0, "owned_by": "comox"}
                    for name in models.names
                ],
            }
        )

    async def proxy(
        self, request: Request, reply: Connection, path: bytes, validate: Callable[[dict], None]
    ) -> None:
        payload = request.json_object()
        validate(payload)
        target = self.models.pick(payload["model"])
        body = request.body
        if target.model != payload["model"]:
            payload["model"] = target.model
            body = orjson.dumps(payload)
        await forward(reply, target.backend, path, body)

    def model(self, name: str) -> bytes:
        self.models.targets(name)  # 404 with the list when unknown
        return orjson.dumps({"id": name, "object": "model", "created": 0, "owned_by": "comox"})
