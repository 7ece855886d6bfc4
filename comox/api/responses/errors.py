"""Errors on /v1/responses: OpenAI's JSON shape before a stream, and Responses' typed `error`
event inside one (`{"type": "error", "code", "message", "param"}`)."""

from __future__ import annotations

import orjson

from comox.server.errors import GatewayError


class ResponsesErrorShape:
    def body(self, exc: GatewayError) -> bytes:
        return orjson.dumps(exc.payload())

    def sse_event(self, exc: GatewayError) -> bytes:
        error = exc.payload()["error"]
        event = {
            "type": "error",
            "code": exc.code or error["type"],
            "message": exc.message,
            "param": exc.param,
            "sequence_number": 0,
        }
        return b"event: error\ndata: " + orjson.dumps(event) + b"\n\n"


SHAPE = ResponsesErrorShape()
