"""The OpenAI-compatible inference API: authenticate, validate, run the stages, route, proxy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from typing import Any

import orjson

from comox.api.call import Call, Stage
from comox.proxy.forward import forward
from comox.routing.models import ModelTable
from comox.server.connection import Connection
from comox.server.errors import GatewayError
from comox.server.request import Request


def _no_auth(request: Request) -> None:
    return None


def _models_body(names: list[str]) -> bytes:
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "comox"} for name in names]
    return orjson.dumps({"object": "list", "data": data})


class OpenAIService:
    def __init__(
        self,
        models: ModelTable,
        stages: Sequence[Stage] = (),
        authenticate: Callable[[Request], Any] = _no_auth,
    ) -> None:
        self.models = models
        self.stages = tuple(stages)
        self.authenticate = authenticate
        """Runs first, before the body is even parsed: an unauthenticated caller gets 401, never 400."""
        self.models_body = _models_body(models.names)

    def list_models(self, request: Request) -> bytes:
        principal = self.authenticate(request)
        patterns = getattr(principal, "models", ("*",))
        if patterns == ("*",):
            return self.models_body
        return _models_body([n for n in self.models.names if any(fnmatchcase(n, p) for p in patterns)])

    async def proxy(
        self, request: Request, reply: Connection, api: str, path: bytes, validate: Callable[[dict], None]
    ) -> None:
        principal = self.authenticate(request)
        payload = request.json_object()
        validate(payload)
        call = Call(request, api, payload, payload["model"], payload.get("stream") is True, principal)
        try:
            for stage in self.stages:
                await stage.admit(call)
            await self._route(call, reply, path)
        except GatewayError as exc:
            call.error, call.status = exc, exc.status
            raise
        finally:
            call.ended_at = reply.loop_time()
            for stage in reversed(self.stages):
                stage.settle(call)

    async def _route(self, call: Call, reply: Connection, path: bytes) -> None:
        payload = call.payload
        target = self.models.pick(call.model)
        changed = target.model != call.model or call.payload_changed
        if changed:
            payload["model"] = target.model
        if call.want_usage and call.stream:
            options = payload.get("stream_options") or {}
            if not options.get("include_usage"):
                payload["stream_options"] = {**options, "include_usage": True}
                call.strip_usage = changed = True
        body = orjson.dumps(payload) if changed else call.request.body
        call.attempts += 1
        await forward(reply, call, target.backend, path, body)

    def model(self, request: Request, name: str) -> bytes:
        principal = self.authenticate(request)
        patterns = getattr(principal, "models", ("*",))
        if not any(fnmatchcase(name, p) for p in patterns):  # for this key, as if it did not exist
            raise GatewayError(
                404,
                f"The model '{name}' does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        self.models.targets(name)  # 404 with the list when unknown
        return orjson.dumps({"id": name, "object": "model", "created": 0, "owned_by": "comox"})
