"""A backend at run time: its config, its connection pool and the request head it needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from comox.engines.adapters import EngineAdapter, for_engine
from comox.engines.kinds import KINDS, EngineKind
from comox.proxy.pool import PoolConfig, UpstreamPool
from comox.routing.state import BackendState
from comox.server.watchdog import Watchdog

if TYPE_CHECKING:
    from comox.managed.engine import ManagedEngine


@dataclass(eq=False, slots=True)
class Backend:
    name: str
    kind: EngineKind
    models: dict[str, str]
    """Public model name to the name the engine knows it by."""
    pool: UpstreamPool
    base_path: bytes
    fixed_headers: bytes
    """Host, auth and content-type lines, rendered once so a request only adds its length."""
    state: BackendState
    weight: float = 1.0
    max_concurrency: int | None = None
    max_queue: int | None = None
    cloud: bool = False
    header: bytes = b""
    """The `x-comox-backend` response header line naming this backend, rendered once."""
    adapter: EngineAdapter = field(default_factory=lambda: for_engine("vllm"))
    """Speaks the engine's wire format (identity for OpenAI-compatible engines)."""
    managed: ManagedEngine | None = None
    """The engine process the gateway runs for this backend; None for engines run elsewhere."""
    strip_request_id: bool = False
    """The engine refuses the gateway's `x-request-id` (its profile's `request_id` is False)."""

    @classmethod
    def from_config(
        cls, cfg, upstream, watchdog: Watchdog, routing, port: int | None = None, models=None
    ) -> Backend:
        """`port` and `models` narrow a managed backend to one model's engine process."""
        pool = UpstreamPool(
            PoolConfig(
                host=cfg.host,
                port=cfg.port if port is None else port,
                use_tls=cfg.use_tls,
                connect_timeout=cfg.effective_connect_timeout(upstream),
                read_timeout=cfg.effective_read_timeout(upstream),
                max_idle=upstream.max_idle_connections,
                idle_ttl=upstream.idle_ttl,
            ),
            watchdog,
        )
        lines = [
            f"host: {cfg.host_header if port is None else f'{cfg.host}:{port}'}",
            "content-type: application/json",
            "accept: */*",
            "user-agent: comox",
        ]
        adapter = for_engine(cfg.engine)
        lines += adapter.auth_headers(cfg.api_key_value)
        return cls(
            name=cfg.name,
            kind=KINDS[cfg.engine],
            models=dict(cfg.models if models is None else models),
            pool=pool,
            base_path=cfg.base_path.encode(),
            fixed_headers=("\r\n".join(lines) + "\r\n").encode("latin-1"),
            state=BackendState.from_config(routing),
            weight=cfg.weight,
            max_concurrency=cfg.max_concurrency,
            max_queue=cfg.max_queue,
            cloud=cfg.is_cloud,
            header=b"x-comox-backend: %s\r\n" % cfg.name.encode(),
            adapter=adapter,
            strip_request_id=not KINDS[cfg.engine].profile.request_id,
        )

    def __repr__(self) -> str:  # never show the auth header
        return f"Backend({self.name!r}, {self.kind.name})"
