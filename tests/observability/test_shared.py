"""Worker snapshots in a shared directory: each worker sees the others, not stale ones."""

from __future__ import annotations

import os
import time

from comox.observability.families import COUNTER, Family
from comox.observability.shared import SnapshotDir, clear


def _family(n: int) -> list[Family]:
    f = Family("comox_requests_total", COUNTER, "Requests.")
    f.add((), n)
    return [f]


def test_each_worker_reads_the_others_and_skips_stale_files(tmp_path):
    a, b, c = (SnapshotDir(tmp_path, i, stale_after=5) for i in range(3))
    a.write(_family(1))
    b.write(_family(2))
    c.write(_family(3))
    old = time.time() - 60
    os.utime(c.own, (old, old))  # worker 2 died a minute ago
    (tmp_path / "worker-9.json").write_bytes(b"{half a file")
    others = a.read_others()
    assert [g[0].samples[()] for g in others] == [2]
    clear(tmp_path)
    assert not list(tmp_path.glob("worker-*.json"))
