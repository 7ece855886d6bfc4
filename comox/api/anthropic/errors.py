"""Errors as Anthropic writes them: `{"type": "error", "error": {"type", "message"}}`, and
inside a stream as an `event: error` with the same data (what the anthropic SDK raises on)."""

from __future__ import annotations

import orjson

from comox.server.errors import GatewayError

TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "overloaded_error",
        "timeout_error",
    }
)
BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    413: "request_too_large",
    415: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_object(exc: GatewayError) -> dict:
    kind = exc.type if exc.type in TYPES else None
    if kind is None:
        kind = BY_STATUS.get(exc.status, "api_error" if exc.status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": exc.message}}


class AnthropicErrorShape:
    def body(self, exc: GatewayError) -> bytes:
        return orjson.dumps(error_object(exc))

    def sse_event(self, exc: GatewayError) -> bytes:
        return b"event: error\ndata: " + self.body(exc) + b"\n\n"


SHAPE = AnthropicErrorShape()
