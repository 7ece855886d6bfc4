"""Routes of the OpenAI-compatible API; each parses, calls the service, and replies."""

from __future__ import annotations

from functools import partial
from urllib.parse import unquote

from comox.api.openai import schemas
from comox.api.openai.service import OpenAIService
from comox.server.connection import Connection
from comox.server.request import Request
from comox.server.routes import Routes

CHAT = b"/v1/chat/completions"
COMPLETIONS = b"/v1/completions"
EMBEDDINGS = b"/v1/embeddings"
MODELS = b"/v1/models"


def add_routes(routes: Routes, service: OpenAIService) -> None:
    # partials, not wrapper coroutines: the route call creates the service coroutine directly
    chat = partial(service.proxy, api="chat", path=CHAT, validate=schemas.validate_chat)
    completions = partial(
        service.proxy, api="completions", path=COMPLETIONS, validate=schemas.validate_completion
    )
    embeddings = partial(
        service.proxy, api="embeddings", path=EMBEDDINGS, validate=schemas.validate_embedding
    )

    async def list_models(request: Request, reply: Connection) -> None:
        reply.send(200, service.list_models(request))

    async def get_model(request: Request, reply: Connection) -> None:
        name = unquote(request.path[len(MODELS) + 1 :].decode("utf-8", "replace"))
        reply.send(200, service.model(request, name))

    routes.add(b"POST", CHAT, chat)
    routes.add(b"POST", COMPLETIONS, completions)
    routes.add(b"POST", EMBEDDINGS, embeddings)
    routes.add(b"GET", MODELS, list_models)
    routes.add_prefix(b"GET", MODELS + b"/", get_model)
