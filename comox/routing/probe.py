"""One GET to a backend outside the request path: health probes and metrics scrapes."""

from __future__ import annotations

import asyncio

from comox.proxy.forward import open_exchange, request_bytes
from comox.routing.backend import Backend
from comox.server.errors import GatewayError


async def fetch(backend: Backend, path: bytes, timeout: float) -> tuple[int, bytes] | None:
    """Status and body of GET `path`, or None when the engine did not answer in time."""
    data = request_bytes(backend, b"GET", path, b"")
    conn = None
    try:
        async with asyncio.timeout(timeout):
            conn = await open_exchange(backend, data)
            body = await conn.body()
    except (GatewayError, TimeoutError, ConnectionError, OSError):
        if conn is not None:
            backend.pool.discard(conn)
        return None
    backend.pool.release(conn)
    return conn.status, body


async def probe(backend: Backend, timeout: float) -> bool:
    """True when the engine's health endpoint answers 2xx within `timeout` seconds."""
    result = await fetch(backend, backend.kind.health_path, timeout)
    return result is not None and 200 <= result[0] < 300
