"""The audit log over HTTP: search for the admin and for tenants, erasure and subject export.

- `GET /admin/audit` (admin key): records of every tenant, filtered by the query.
- `GET /v1/audit` (a tenant's API key; `audit.tenant_api`): the same search, always limited
  to the key's own tenant; asking for another tenant is a 403, never an empty answer that
  would hide the rule.
- `DELETE /admin/audit/subjects/{id}[?tenant=]` (admin): crypto-shred the subject's content,
  and erase whatever else the gateway keeps of the subject (`erasers`: agents memory).
- `GET /admin/audit/subjects/{id}[?tenant=]` (admin): the subject's records with content
  decrypted, as JSON Lines.
Search answers carry metadata only, never content; the key of a record is its id, never the key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import unquote

import orjson

from comox.api.admin import _query, check_admin
from comox.audit import operations
from comox.audit.crypto import KeyUnavailable
from comox.audit.log import AuditLog
from comox.audit.query import Filters, parse_time
from comox.policy.tenancy import Tenancy
from comox.server.connection import Connection
from comox.server.errors import GatewayError, bad_request
from comox.server.request import Request
from comox.server.routes import Routes

SUBJECTS = b"/admin/audit/subjects/"
NDJSON = b"application/x-ndjson"


def filters_from(query: dict[str, str], tenant: str | None = None) -> Filters:
    """Filters from query parameters; `tenant` (a tenant caller's own) overrides and limits."""
    fields: dict = {}
    for name in ("since", "until"):
        if name in query:
            try:
                fields[name] = parse_time(query[name])
            except ValueError as exc:
                raise bad_request(str(exc), param=name) from None
    for name in ("tenant", "key_id", "model", "backend", "subject"):
        if query.get(name):
            fields[name] = query[name]
    for name in ("status", "after", "limit"):
        if name in query:
            try:
                fields[name] = int(query[name])
            except ValueError:
                raise bad_request(f"{name} must be an integer.", param=name) from None
    if tenant is not None:
        if fields.get("tenant", tenant) != tenant:
            raise GatewayError(
                403, "A tenant key can only read its own tenant's audit records.", code="forbidden"
            )
        fields["tenant"] = tenant
    return Filters(**fields)


def _page(records: list[dict]) -> bytes:
    return orjson.dumps({"data": records, "next_after": records[-1]["seq"] if records else None})


Eraser = Callable[[str, str | None], Awaitable[Any]]
"""Erases a subject's data elsewhere in the gateway: (subject, tenant or None for all)."""


async def _no_cache(subject: str, tenant: str | None) -> int:
    return 0


def add_routes(
    routes: Routes,
    tenancy: Tenancy,
    audit: AuditLog,
    erase_cached: Callable[[str, str | None], Awaitable[int]] = _no_cache,
    erasers: Sequence[Eraser] = (),
) -> None:
    """`erase_cached` drops the subject's cached answers too (see comox.cache.component);
    `erasers` erase the subject's data in other components (agent memory)."""
    store, keyring = audit.store, audit.keyring

    async def admin_search(request: Request, reply: Connection) -> None:
        check_admin(tenancy, request)
        reply.send(200, _page(await operations.search(store, filters_from(_query(request)))))

    async def tenant_search(request: Request, reply: Connection) -> None:
        principal = tenancy.auth.authenticate(request)
        if principal is None:
            raise GatewayError(
                403, "Audit records are per tenant: call with a tenant's API key.", code="forbidden"
            )
        filters = filters_from(_query(request), principal.tenant)
        reply.send(200, _page(await operations.search(store, filters)))

    def _subject(request: Request) -> str:
        subject = unquote(request.path[len(SUBJECTS) :].decode("utf-8", "replace"))
        if not subject:
            raise bad_request("Name the subject: /admin/audit/subjects/{id}.", param="subject")
        return subject

    async def erase(request: Request, reply: Connection) -> None:
        check_admin(tenancy, request)
        subject, tenant = _subject(request), _query(request).get("tenant")
        erased = await operations.erase(keyring, subject, tenant)
        cached = await erase_cached(subject, tenant)
        for eraser in erasers:
            await eraser(subject, tenant)
        body = {"subject": subject, "tenant": tenant, "erased_keys": len(erased), "erased_cached": cached}
        reply.send(200, orjson.dumps(body))

    async def export(request: Request, reply: Connection) -> None:
        check_admin(tenancy, request)
        subject, tenant = _subject(request), _query(request).get("tenant")
        lines = []
        try:
            async for record in operations.export_subject(store, keyring, subject, tenant):
                lines.append(orjson.dumps(record) + b"\n")
        except KeyUnavailable as exc:
            raise GatewayError(409, f"{exc}.", code="audit_key_unavailable") from None
        reply.send(200, b"".join(lines), NDJSON)

    routes.add(b"GET", b"/admin/audit", admin_search)
    if audit.config.tenant_api:
        routes.add(b"GET", b"/v1/audit", tenant_search)
    routes.add_prefix(b"DELETE", SUBJECTS, erase)
    routes.add_prefix(b"GET", SUBJECTS, export)
