"""The admin API under /admin/: tenants, keys, usage. Thin routes over `Registry`.

Every route needs `Authorization: Bearer <admin_key>` (compared in constant time); without
an admin key in the config the API answers 403. After a change, this worker reloads its key
table at once; the others follow within `tenancy.key_refresh_interval`.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, unquote

import orjson

from comox.api.admin_schemas import KeyIn, TenantIn, parse
from comox.policy.auth import presented_key
from comox.policy.keys import Limits, same_secret, tenant_public
from comox.policy.registry import NotFound, usage_csv, usage_json
from comox.policy.tenancy import Tenancy
from comox.server.connection import Connection
from comox.server.errors import GatewayError, bad_request
from comox.server.request import Request
from comox.server.routes import Routes
from comox.stores.base import Conflict

KEYS = b"/admin/keys"


def check_admin(tenancy: Tenancy, request: Request) -> None:
    if tenancy.admin_key is None:
        raise GatewayError(
            403, "The admin API is disabled; set admin_key in the config.", code="admin_disabled"
        )
    given = presented_key(request.headers)
    if given is None or not same_secret(given, tenancy.admin_key.get_secret_value()):
        raise GatewayError(
            401,
            "Missing or wrong admin key; send 'Authorization: Bearer <admin_key>'.",
            code="invalid_admin_key",
            headers=((b"www-authenticate", b"Bearer"),),
        )


def _query(request: Request) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(request.query.decode("latin-1")).items()}


def _day(query: dict[str, str], name: str, default: str) -> str:
    value = query.get(name, default)
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise bad_request(f"{name} must be a date as YYYY-MM-DD.", param=name) from None


def add_routes(routes: Routes, tenancy: Tenancy) -> None:
    registry = tenancy.registry

    def guarded(handler):
        async def run(request: Request, reply: Connection) -> None:
            check_admin(tenancy, request)
            try:
                await handler(request, reply)
            except NotFound as exc:
                raise GatewayError(404, str(exc), code="not_found") from None
            except Conflict as exc:
                raise GatewayError(409, str(exc).capitalize() + ".", code="conflict") from None

        return run

    async def create_tenant(request: Request, reply: Connection) -> None:
        body = parse(TenantIn, request.json_object())
        limits = Limits(body.rpm, body.tpm, body.token_budget, body.budget_period)
        tenant = await registry.create_tenant(body.name, limits, body.metadata)
        await tenancy.refresh()
        reply.send(201, orjson.dumps(tenant_public(tenant)))

    async def list_tenants(request: Request, reply: Connection) -> None:
        tenants = await tenancy.store.list_tenants()
        reply.send(200, orjson.dumps({"data": [tenant_public(t) for t in tenants]}))

    async def create_key(request: Request, reply: Connection) -> None:
        body = parse(KeyIn, request.json_object())
        policy = body.model_dump(exclude={"tenant", "expires_in"})
        if body.expires_in is not None:
            policy["expires_at"] = tenancy.clock() + body.expires_in
        secret, record = await registry.create_key(body.tenant, **policy)
        await tenancy.refresh()
        reply.send(201, orjson.dumps({"key": secret, **record.public()}))

    async def list_keys(request: Request, reply: Connection) -> None:
        tenant = _query(request).get("tenant")
        if tenant is not None:
            await registry.tenant(tenant)
        keys = await registry.list_keys(tenant)
        reply.send(200, orjson.dumps({"data": [k.public() for k in keys]}))

    async def revoke_key(request: Request, reply: Connection) -> None:
        key_id = unquote(request.path[len(KEYS) + 1 :].decode("utf-8", "replace"))
        record = await registry.revoke_key(key_id)
        await tenancy.refresh()
        reply.send(200, orjson.dumps(record.public()))

    async def usage(request: Request, reply: Connection) -> None:
        query = _query(request)
        since, until = _day(query, "since", "0001-01-01"), _day(query, "until", "9999-12-31")
        tenant = query.get("tenant")
        if tenant is not None:
            await registry.tenant(tenant)
        rows = await registry.usage(since, until, tenant)
        if query.get("format", "json") == "csv":
            reply.send(200, usage_csv(rows).encode(), b"text/csv; charset=utf-8")
        elif query.get("format", "json") == "json":
            reply.send(200, orjson.dumps({"data": usage_json(rows)}))
        else:
            raise bad_request("format must be json or csv.", param="format")

    routes.add(b"POST", b"/admin/tenants", guarded(create_tenant))
    routes.add(b"GET", b"/admin/tenants", guarded(list_tenants))
    routes.add(b"POST", KEYS, guarded(create_key))
    routes.add(b"GET", KEYS, guarded(list_keys))
    routes.add_prefix(b"DELETE", KEYS + b"/", guarded(revoke_key))
    routes.add(b"GET", b"/admin/usage", guarded(usage))
