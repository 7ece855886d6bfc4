"""Is a backend answering at all? A single GET of its engine's health path."""

from __future__ import annotations

import asyncio

from comox.proxy.forward import open_exchange, request_bytes
from comox.routing.backend import Backend
from comox.server.errors import GatewayError


async def probe(backend: Backend, timeout: float) -> bool:
    """True when the engine's health endpoint answers 2xx within `timeout` seconds."""
    data = request_bytes(backend, b"GET", backend.kind.health_path, b"")
    try:
        async with asyncio.timeout(timeout):
            conn = await open_exchange(backend, data)
            await conn.body()
    except (GatewayError, TimeoutError, ConnectionError, OSError):
        return False
    backend.pool.release(conn)
    return 200 <= conn.status < 300
