"""The OpenAI-compatible inference API: authenticate, validate, run the stages, route, proxy."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import orjson

from comox.api.call import Call, Stage
from comox.routing.dispatch import dispatch
from comox.routing.router import Router
from comox.server.connection import Connection
from comox.server.errors import GatewayError
from comox.server.request import Request


class OpenAIService:
    def __init__(self, router: Router, stages: Sequence[Stage] = ()) -> None:
        self.router = router
        self.models = router.table
        self.stages = tuple(stages)
        self.models_body = orjson.dumps(
            {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "created": 0, "owned_by": "comox"}
                    for name in self.models.names
                ],
            }
        )

    async def proxy(
        self, request: Request, reply: Connection, api: str, path: bytes, validate: Callable[[dict], None]
    ) -> None:
        payload = request.json_object()
        validate(payload)
        call = Call(request, api, payload, payload["model"], payload.get("stream") is True)
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
        if call.request.headers.get(b"x-comox-allow-cloud", b"").lower() in (b"false", b"0", b"no"):
            call.allow_cloud = False
        if call.want_usage and call.stream:
            options = call.payload.get("stream_options") or {}
            if not options.get("include_usage"):
                call.payload["stream_options"] = {**options, "include_usage": True}
                call.strip_usage = call.body_changed = True
        await dispatch(self.router, call, reply, path)

    def model(self, name: str) -> bytes:
        self.models.targets(name)  # 404 with the list when unknown
        return orjson.dumps({"id": name, "object": "model", "created": 0, "owned_by": "comox"})
