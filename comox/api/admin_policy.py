"""GET /admin/policy: the residency policy's data-flow report as JSON (see comox/sovereignty/explain.py)."""

from __future__ import annotations

import orjson

from comox.api.admin import check_admin
from comox.policy.tenancy import Tenancy
from comox.server.connection import Connection
from comox.server.request import Request
from comox.server.routes import Routes


def add_routes(routes: Routes, tenancy: Tenancy, report: dict) -> None:
    body = orjson.dumps(report)

    async def policy(request: Request, reply: Connection) -> None:
        check_admin(tenancy, request)
        reply.send(200, body)

    routes.add(b"GET", b"/admin/policy", policy)
