"""Routes of the Anthropic Messages API. Every error on them, before or inside a stream, is
written in Anthropic's shape."""

from __future__ import annotations

from comox.api.anthropic import errors
from comox.api.anthropic.service import MESSAGES, AnthropicService
from comox.server.connection import Connection
from comox.server.request import Request
from comox.server.routes import Routes, shaped

COUNT_TOKENS = b"/v1/messages/count_tokens"


def add_routes(routes: Routes, service: AnthropicService) -> None:
    async def messages(request: Request, reply: Connection) -> None:
        await service.messages(request, reply)

    async def count_tokens(request: Request, reply: Connection) -> None:
        reply.send(200, service.count_tokens(request))

    routes.add(b"POST", MESSAGES, shaped(messages, errors.SHAPE))
    routes.add(b"POST", COUNT_TOKENS, shaped(count_tokens, errors.SHAPE))
