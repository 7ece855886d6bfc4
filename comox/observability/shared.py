"""Metrics of several workers: each writes its snapshot to a shared directory, any one merges.

With SO_REUSEPORT a scrape reaches one worker at random, so each worker writes its families
to `worker-N.json` every `write_interval` seconds (and on each scrape it serves), and the
worker that is scraped merges every fresh file. This is prometheus-client's multiprocess
idea with whole snapshots instead of memory-mapped values, so the request path stays plain
integer arithmetic. A file not rewritten for `stale_after` seconds belongs to a worker that
is gone and is ignored; a replaced worker starts its counters from zero, which Prometheus
reads as a counter reset.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import orjson

from comox.observability.families import Family

PATTERN = "worker-*.json"


class SnapshotDir:
    def __init__(self, path: str | Path, worker: int, stale_after: float = 10.0) -> None:
        self.path = Path(path)
        self.worker = worker
        self.stale_after = stale_after
        self.own = self.path / f"worker-{worker}.json"
        self.path.mkdir(parents=True, exist_ok=True)

    def write(self, families: list[Family]) -> None:
        data = orjson.dumps([f.to_json() for f in families])
        tmp = self.own.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.own)  # readers see the old or the new file, never half of one

    def read_others(self) -> list[list[Family]]:
        now = time.time()
        groups = []
        for file in self.path.glob(PATTERN):
            if file == self.own:
                continue
            try:
                if now - file.stat().st_mtime > self.stale_after:
                    continue
                groups.append([Family.from_json(f) for f in orjson.loads(file.read_bytes())])
            except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
                continue  # a worker replaced mid-read or a foreign file: skip it this time
        return groups

    def remove_own(self) -> None:
        with contextlib.suppress(OSError):
            self.own.unlink()


def clear(path: str | Path) -> None:
    """Forget snapshots of an earlier run (the supervisor calls this before forking)."""
    for file in Path(path).glob(PATTERN):
        with contextlib.suppress(OSError):
            file.unlink()
