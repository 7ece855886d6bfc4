"""GET /admin/backends: every backend with its kind, health, load and loaded models, plus the
swap counters of managed backends. Admin key required, like the rest of /admin/."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson

from comox.api.admin import check_admin
from comox.policy.tenancy import Tenancy
from comox.routing.backend import Backend
from comox.routing.inventory import describe
from comox.server.connection import Connection
from comox.server.request import Request
from comox.server.routes import Routes


def add_routes(routes: Routes, tenancy: Tenancy, backends: Sequence[Backend], swappers: Sequence) -> None:
    async def list_backends(request: Request, reply: Connection) -> None:
        check_admin(tenancy, request)
        now = asyncio.get_running_loop().time()
        body = {
            "data": [describe(b, now) for b in backends],
            "managed": {s.name: s.describe() for s in swappers},
        }
        reply.send(200, orjson.dumps(body))

    routes.add(b"GET", b"/admin/backends", list_backends)
