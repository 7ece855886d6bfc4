"""Errors in OpenAI's wire shape, or in the shape of the client's API family.

Every failure a client can see is a `GatewayError`: handlers raise it, the connection
layer renders it. Nothing else reaches the wire, so no traceback can leak. Routes of another
API family (Anthropic's /v1/messages) set `shape` so the same error reads the way their
clients expect; by default it is OpenAI's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import orjson

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "internal_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout_error",
}


class ErrorShape(Protocol):
    """How one API family writes an error: as a JSON body, and as an event inside a stream."""

    def body(self, exc: GatewayError) -> bytes: ...

    def sse_event(self, exc: GatewayError) -> bytes: ...


@dataclass(eq=False)
class GatewayError(Exception):
    """A refusal or failure with the status and fields the client should see."""

    status: int
    message: str
    code: str | None = None
    param: str | None = None
    type: str | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()
    shape: ErrorShape | None = None
    """The client's API family's error shape; None is OpenAI's."""

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    def payload(self) -> dict:
        """The OpenAI-shaped error object."""
        return {
            "error": {
                "message": self.message,
                "type": self.type or _TYPES.get(self.status, "api_error"),
                "param": self.param,
                "code": self.code,
            }
        }

    def body(self) -> bytes:
        if self.shape is not None:
            return self.shape.body(self)
        return orjson.dumps(self.payload())

    def sse_event(self) -> bytes:
        """The error as one SSE event, for failures after a stream has started."""
        if self.shape is not None:
            return self.shape.sse_event(self)
        return b"data: " + self.body() + b"\n\n"


def bad_request(message: str, param: str | None = None, code: str = "invalid_request") -> GatewayError:
    return GatewayError(400, message, code=code, param=param)
