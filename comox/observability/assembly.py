"""Observability of one worker, assembled from its config: request ids and the exchange
observer, the metrics endpoint (with the shared snapshot directory when there are several
workers), the access log, and the tracing stage when tracing is on."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from comox.api.call import Call
from comox.config.observability import ObservabilityConfig
from comox.observability.access_log import AccessLog
from comox.observability.endpoint import MetricsEndpoint
from comox.observability.exchanges import Exchanges
from comox.observability.families import Family
from comox.observability.shared import SnapshotDir
from comox.server.routes import Routes


class WantUsage:
    """A stage that asks for the engine's token counts, which the token metrics need (streams
    then request the engine's usage event, kept from clients that did not ask for it)."""

    def admit(self, call: Call) -> None:
        call.want_usage = True


class Observability:
    def __init__(
        self, config: ObservabilityConfig, models: Collection[str], worker: int = 0, trace_processor=None
    ) -> None:
        self.config = config
        self.worker = worker
        self.started = time.time()
        metrics = config.metrics.enabled
        self.access_log = AccessLog() if config.access_log else None
        self.exchanges = Exchanges(models, metrics=metrics, access_log=self.access_log)
        self.tracing = None
        if config.tracing.enabled:
            from comox.observability.tracing import Tracing

            self.tracing = Tracing.from_config(config.tracing, trace_processor)
        self.endpoint: MetricsEndpoint | None = None

    @property
    def stages(self) -> tuple:
        """Tracing first, so its span covers every other stage."""
        stages: list = []
        if self.tracing is not None:
            stages.append(self.tracing)
        if self.config.metrics.enabled:
            stages.append(WantUsage())
        return tuple(stages)

    def add_routes(self, routes: Routes, collect: Callable[[], list[Family]]) -> None:
        cfg = self.config.metrics
        if not cfg.enabled:
            return
        shared = None
        if cfg.multiprocess_dir:
            shared = SnapshotDir(
                cfg.multiprocess_dir, self.worker, stale_after=max(10.0, 5 * cfg.write_interval)
            )
        self.exchanges.routes[cfg.path.encode()] = "metrics"
        self.endpoint = MetricsEndpoint(collect, shared, cfg.write_interval)
        self.endpoint.add_route(routes, cfg.path.encode())

    def start(self) -> None:
        if self.endpoint is not None:
            self.endpoint.start()

    def aclose(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()
        if self.access_log is not None:
            self.access_log.flush()
        if self.tracing is not None:
            self.tracing.shutdown()
