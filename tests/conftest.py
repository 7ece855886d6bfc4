"""Shared fixtures: real engine and gateway processes over loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from comox.testing.processes import Proc, start_engine


@pytest.fixture
def spawn() -> Iterator[Callable[..., Proc]]:
    """Start processes with `spawn(start_engine, ...)`; all are stopped after the test."""
    procs: list[Proc] = []

    def run(starter: Callable[..., Proc], *args, **kwargs) -> Proc:
        proc = starter(*args, **kwargs)
        procs.append(proc)
        return proc

    yield run
    for proc in reversed(procs):
        proc.stop()


@pytest.fixture(scope="module")
def engine() -> Iterator[Proc]:
    """One test engine shared by a module; tests reset its controls before use."""
    proc = start_engine("--model", "test-model", "--model", "embed-model")
    yield proc
    proc.stop()
