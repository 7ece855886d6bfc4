"""Routes of the Responses API; errors inside a stream are Responses' typed `error` events."""

from __future__ import annotations

from comox.api.responses import errors
from comox.api.responses.service import RESPONSES, ResponsesService
from comox.server.routes import Routes, shaped


def add_routes(routes: Routes, service: ResponsesService) -> None:
    routes.add(b"POST", RESPONSES, shaped(service.create, errors.SHAPE))
