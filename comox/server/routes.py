"""Path and method to handler, with 404 and 405 answers for the rest."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from comox.server.connection import Connection, Handler
from comox.server.errors import ErrorShape, GatewayError
from comox.server.request import Request


class Routes:
    """An exact-match route table; the gateway's API has no path parameters on the hot path."""

    def __init__(self, routes: Iterable[tuple[bytes, bytes, Handler]] = ()) -> None:
        self._table: dict[bytes, dict[bytes, Handler]] = {}
        self._prefixes: list[tuple[bytes, bytes, Handler]] = []
        for method, path, handler in routes:
            self.add(method, path, handler)

    def add(self, method: bytes, path: bytes, handler: Handler) -> None:
        self._table.setdefault(path, {})[method] = handler

    def add_prefix(self, method: bytes, prefix: bytes, handler: Handler) -> None:
        """Serve every longer path under `prefix` (model ids may themselves contain '/')."""
        self._prefixes.append((method, prefix, handler))

    def resolve(self, request: Request) -> Handler:
        by_method = self._table.get(request.path)
        if by_method is None and request.path.endswith(b"/") and len(request.path) > 1:
            by_method = self._table.get(request.path.rstrip(b"/"))
        if by_method is None:
            by_method = {
                method: handler
                for method, prefix, handler in self._prefixes
                if request.path.startswith(prefix) and len(request.path) > len(prefix)
            }
        if not by_method:
            return _not_found
        handler = by_method.get(request.method)
        if handler is None:
            if request.method == b"HEAD" and b"GET" in by_method:
                return by_method[b"GET"]
            return _method_not_allowed(sorted(by_method))
        return handler


def shaped(handler: Handler, shape: ErrorShape) -> Handler:
    """`handler` with every error it raises, before or inside a stream, written in `shape` (the
    routes of another API family). The error is copied: errors may be shared constants."""

    async def run(request: Request, reply: Connection) -> None:
        try:
            await handler(request, reply)
        except GatewayError as exc:
            raise dataclasses.replace(exc, shape=shape) from None

    return run


async def _not_found(request: Request, reply) -> None:
    raise GatewayError(
        404,
        f"Unknown route {request.method.decode('latin-1')} {request.path.decode('latin-1')}.",
        code="unknown_route",
    )


def _method_not_allowed(allowed: list[bytes]) -> Handler:
    names = ", ".join(m.decode() for m in allowed)

    async def refuse(request: Request, reply) -> None:
        raise GatewayError(
            405,
            f"Method {request.method.decode('latin-1')} is not allowed on "
            f"{request.path.decode('latin-1')}; use {names}.",
            code="method_not_allowed",
            headers=((b"allow", names.encode()),),
        )

    return refuse
