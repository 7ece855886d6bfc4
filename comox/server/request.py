"""The parsed request a handler receives, and how to read its JSON body."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from comox.server.errors import GatewayError


@dataclass(slots=True)
class Request:
    """One complete HTTP request: head and body are fully read before a handler runs.

    LLM requests are small next to their answers, so buffering the body keeps handlers
    simple without costing latency; the size limit is enforced while reading.
    """

    method: bytes
    path: bytes
    query: bytes
    headers: dict[bytes, bytes]
    body: bytes
    client: str
    started: float = 0.0
    keep_alive: bool = True
    """What the client's request line and `connection` header ask for the connection after it."""
    state: dict = field(default_factory=dict)
    id: bytes = b""
    """The request id: the client's `x-request-id` when valid, else generated; sent back on
    the response and forwarded upstream."""

    def json_object(self) -> dict:
        """The body as a JSON object, or the 415/400 error the client should see."""
        ctype = self.headers.get(b"content-type", b"")
        media = ctype.split(b";", 1)[0].strip().lower()
        if media != b"application/json" and not media.endswith(b"+json"):
            shown = media.decode("latin-1") or "none"
            raise GatewayError(
                415,
                f"Unsupported content type '{shown}'; send the body as JSON with "
                "'Content-Type: application/json'.",
                code="unsupported_media_type",
            )
        if not self.body:
            raise GatewayError(400, "The request body is empty; send a JSON object.", code="invalid_json")
        try:
            payload = orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise GatewayError(
                400, f"The request body is not valid JSON: {exc}.", code="invalid_json"
            ) from None
        if not isinstance(payload, dict):
            raise GatewayError(
                400,
                f"The request body must be a JSON object, not {type(payload).__name__}.",
                code="invalid_json",
            )
        return payload
