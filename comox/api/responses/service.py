"""The Responses API over the gateway's chat pipeline: translated to chat for engines that lack
it, passed through untouched to engines that have it (OpenAI), answered with typed events."""

from __future__ import annotations

from comox.api.call import Front
from comox.api.openai.service import OpenAIService
from comox.api.responses import errors, schemas
from comox.server.connection import Connection
from comox.server.request import Request
from comox.translate import responses
from comox.translate.stream_responses import ChatToResponses

RESPONSES = b"/v1/responses"
CHAT = b"/v1/chat/completions"


def front(payload: dict) -> tuple[dict, Front]:
    chat = responses.request(payload)
    model = payload["model"]
    return chat, Front("responses", payload, RESPONSES, lambda: ChatToResponses(payload, model), errors.SHAPE)


class ResponsesService:
    def __init__(self, core: OpenAIService) -> None:
        self.core = core

    async def create(self, request: Request, reply: Connection) -> None:
        await self.core.proxy(request, reply, "chat", CHAT, schemas.validate_response, front)
