"""Backends without sockets, for router and balancer tests."""

from __future__ import annotations

from comox.api.call import Call
from comox.config.routing import RoutingConfig
from comox.engines.kinds import KINDS
from comox.routing.backend import Backend
from comox.routing.state import BackendState
from comox.server.request import Request


def backend(
    name: str, models=("m",), *, cloud=False, weight=1.0, max_concurrency=None, config=None
) -> Backend:
    return Backend(
        name=name,
        kind=KINDS["vllm"],
        models={m: m for m in models},
        pool=None,
        base_path=b"",
        fixed_headers=b"",
        state=BackendState.from_config(config or RoutingConfig()),
        weight=weight,
        max_concurrency=max_concurrency,
        cloud=cloud,
    )


def call(
    model: str = "m", payload: dict | None = None, headers: dict | None = None, allow_cloud=True
) -> Call:
    payload = payload or {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    request = Request(method=b"POST", path=b"/", query=b"", headers=headers or {}, body=b"", client="")
    return Call(request, "chat", payload, model, False, allow_cloud=allow_cloud)
