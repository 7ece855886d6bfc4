"""Errors in OpenAI's wire shape.

Every failure a client can see is a `GatewayError`: handlers raise it, the connection
layer renders it. Nothing else reaches the wire, so no traceback can leak.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(eq=False)
class GatewayError(Exception):
    """A refusal or failure with the status and fields the client should see."""

    status: int
    message: str
    code: str | None = None
    param: str | None = None
    type: str | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    def payload(self) -> dict:
        return {
            "error": {
                "message": self.message,
                "type": self.type or _TYPES.get(self.status, "api_error"),
                "param": self.param,
                "code": self.code,
            }
        }

    def body(self) -> bytes:
        return orjson.dumps(self.payload())

    def sse_event(self) -> bytes:
        """The error as one SSE data event, for failures after a stream has started."""
        return b"data: " + self.body() + b"\n\n"


def bad_request(message: str, param: str | None = None, code: str = "invalid_request") -> GatewayError:
    return GatewayError(400, message, code=code, param=param)
