"""The metrics endpoint: collect this worker's families, merge the other workers', render."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from comox.observability.families import Family, merge, render
from comox.observability.shared import SnapshotDir
from comox.server.connection import Connection
from comox.server.request import Request
from comox.server.routes import Routes

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
log = logging.getLogger("comox.metrics")


class MetricsEndpoint:
    def __init__(
        self, collect: Callable[[], list[Family]], shared: SnapshotDir | None, write_interval: float
    ) -> None:
        self.collect = collect
        self.shared = shared
        self.write_interval = write_interval
        self._timer: asyncio.TimerHandle | None = None
        self.write_errors = 0

    def scrape(self) -> bytes:
        own = self.collect()
        if self.shared is None:
            return render(own)
        self._write(own)
        return render(merge([own, *self.shared.read_others()]))

    def start(self) -> None:
        if self.shared is not None:
            self._tick()

    def _tick(self) -> None:
        self._write(self.collect())
        self._timer = asyncio.get_running_loop().call_later(self.write_interval, self._tick)

    def _write(self, families: list[Family]) -> None:
        try:
            self.shared.write(families)  # type: ignore[union-attr]
        except OSError as exc:
            self.write_errors += 1
            if self.write_errors == 1:
                log.warning("cannot write the metrics snapshot", extra={"fields": {"error": str(exc)}})

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.shared is not None:
            self._write(self.collect())  # the last counts of a worker that stops cleanly

    def add_route(self, routes: Routes, path: bytes) -> None:
        async def metrics(request: Request, reply: Connection) -> None:
            reply.send(200, self.scrape(), CONTENT_TYPE)

        routes.add(b"GET", path, metrics)
