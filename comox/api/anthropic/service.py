"""The Messages API over the gateway's chat pipeline: validate, translate to chat, and let the
OpenAI service run auth, stages, routing and proxying; answers come back through a
chat -> Anthropic codec, errors in Anthropic's shape."""

from __future__ import annotations

from fnmatch import fnmatchcase

import orjson

from comox.api.anthropic import errors, schemas, tokens
from comox.api.call import Front
from comox.api.openai.service import OpenAIService
from comox.server.connection import Connection
from comox.server.errors import GatewayError
from comox.server.request import Request
from comox.translate import anthropic_to_openai
from comox.translate.stream_anthropic import ChatToAnthropic

MESSAGES = b"/v1/messages"
CHAT = b"/v1/chat/completions"


def front(payload: dict) -> tuple[dict, Front]:
    """The chat form of a validated Messages request, and how to answer it."""
    chat = anthropic_to_openai.request(payload)
    model, stops = payload["model"], payload.get("stop_sequences")
    return chat, Front("anthropic", payload, MESSAGES, lambda: ChatToAnthropic(model, stops), errors.SHAPE)


class AnthropicService:
    def __init__(self, core: OpenAIService) -> None:
        self.core = core

    async def messages(self, request: Request, reply: Connection) -> None:
        await self.core.proxy(request, reply, "chat", CHAT, schemas.validate_messages, front)

    def count_tokens(self, request: Request) -> bytes:
        """An estimate (see `tokens`): the gateway holds no tokenizer for the engines' models."""
        principal = self.core.authenticate(request)
        payload = request.json_object()
        schemas.validate_common(payload)
        name = payload["model"]
        patterns = getattr(principal, "models", ("*",))
        if not any(fnmatchcase(name, p) for p in patterns):
            raise GatewayError(404, f"model: {name}", code="not_found_error", param="model")
        self.core.models.targets(name)  # 404 naming the served models when unknown
        return orjson.dumps({"input_tokens": tokens.estimate(payload)})
