"""The OpenAI-compatible inference API: authenticate, validate, run the stages, route, proxy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from fnmatch import fnmatchcase
from typing import Any

import orjson

from comox.api.call import Call, Front, Stage, complete
from comox.routing.dispatch import dispatch
from comox.routing.router import Router
from comox.server.connection import Connection
from comox.server.errors import GatewayError
from comox.server.request import Request


def _no_auth(request: Request) -> None:
    return None


Refusal = Callable[[Request, str, Any, GatewayError], Awaitable[None]]
"""Told of a request refused before it became a call (401, 400, 415): request, api,
principal (None if authentication itself refused), the error."""


def _models_body(names: list[str]) -> bytes:
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "comox"} for name in names]
    return orjson.dumps({"object": "list", "data": data})


_INCLUDE_USAGE = b'"stream_options":{"include_usage":true},'


def ask_stream_usage(call: Call) -> None:
    """Have the engine end the stream with its usage event, which the client did not ask for
    (so it is cut from the client's stream). The common case, a body without stream_options,
    gets the option spliced into the client's bytes instead of re-encoding the whole body."""
    options = call.payload.get("stream_options") or {}
    if options.get("include_usage"):
        return
    call.strip_usage = True
    body = call.request.body
    start = body.find(b"{")
    if (
        "stream_options" not in call.payload  # (an explicit null would win over a spliced key)
        and not call.payload_changed
        and call.front is None
        and not body[:start].strip()
    ):
        call.payload["stream_options"] = {"include_usage": True}
        call.forward_body = body[: start + 1] + _INCLUDE_USAGE + body[start + 1 :]  # `model` follows
        return
    call.payload["stream_options"] = {**options, "include_usage": True}
    call.payload_changed = True


class OpenAIService:
    def __init__(
        self,
        router: Router,
        stages: Sequence[Stage] = (),
        authenticate: Callable[[Request], Any] = _no_auth,
        on_refused: Sequence[Refusal] = (),
    ) -> None:
        self.router = router
        self.models = models = router.table
        self.stages = tuple(stages)
        self.admitters = tuple(stage.admit for stage in self.stages)
        self.settlers = tuple(s.settle for s in reversed(self.stages) if hasattr(s, "settle"))
        """Bound once: the hot path pays a call per stage that has work, nothing for the rest."""
        self.authenticate = authenticate
        """Runs first, before the body is even parsed: an unauthenticated caller gets 401, never 400."""
        self.models_body = _models_body(models.names)
        self.on_refused = tuple(on_refused)

    def list_models(self, request: Request) -> bytes:
        principal = self.authenticate(request)
        patterns = getattr(principal, "models", ("*",))
        if patterns == ("*",):
            return self.models_body
        return _models_body([n for n in self.models.names if any(fnmatchcase(n, p) for p in patterns)])

    async def proxy(
        self,
        request: Request,
        reply: Connection,
        api: str,
        path: bytes,
        validate: Callable[[dict], None],
        translate: Callable[[dict], tuple[dict, Front]] | None = None,
    ) -> None:
        """`translate` is given by the routes of other API families (Anthropic, Responses): it
        turns their validated request into chat and says how to answer in their form."""
        principal = None
        front = None
        try:
            principal = self.authenticate(request)
            payload = request.json_object()
            validate(payload)
            if translate is not None:
                payload, front = translate(payload)
        except GatewayError as exc:
            for refused in self.on_refused:
                await refused(request, api, principal, exc)
            raise
        call = Call(
            request, api, payload, payload["model"], payload.get("stream") is True, principal, front=front
        )
        request.state["call"] = call  # for the access log and request metrics at the exchange's end
        if request.id:
            call.upstream_headers = b"x-request-id: " + request.id + b"\r\n"
        try:
            for admit in self.admitters:
                waiting = admit(call)
                if waiting is not None:
                    await waiting
            if call.replay is None:
                await self._route(call, reply, path)
            else:
                await call.replay(call, reply)
        except GatewayError as exc:
            call.error, call.status = exc, exc.status
            if call.before_complete:  # the error is the answer: its hooks run before it is sent
                await complete(call)
            raise
        finally:
            call.ended_at = reply.loop_time()
            for settle in self.settlers:
                settle(call)

    async def _route(self, call: Call, reply: Connection, path: bytes) -> None:
        if call.request.headers.get(b"x-comox-allow-cloud", b"").lower() in (b"false", b"0", b"no"):
            call.allow_cloud = False
        if call.want_usage and call.stream:
            ask_stream_usage(call)
        await dispatch(self.router, call, reply, path)

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
