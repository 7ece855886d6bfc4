"""One engine OS process: started in its own process group, tied to the gateway's life,
its output kept in a bounded buffer (and optionally a file), stopped by group.

Why both a process group and a parent-death signal: stopping by group also reaches helpers an
engine forks (vLLM's workers), while PR_SET_PDEATHSIG makes Linux SIGTERM the engine when
the gateway dies without cleaning up (SIGKILL, OOM), so no engine outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1


def _tie_to_parent(parent: int) -> Callable[[], None]:
    def preexec() -> None:  # runs in the child between fork and exec
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the gateway died before prctl took effect
            os._exit(1)

    return preexec


class EngineProcess:
    """A started engine; `exited` resolves with its exit status once it is gone."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        log: deque[str],
        log_file: Path | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.exited: asyncio.Future[int] = loop.create_future()
        self._log = log
        self._file = log_file.open("a", encoding="utf-8", errors="replace") if log_file else None
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
            preexec_fn=_tie_to_parent(os.getpid()),
        )
        self.pid = self.proc.pid
        threading.Thread(target=self._pump, args=(loop,), daemon=True, name=f"engine-{self.pid}").start()

    def _pump(self, loop: asyncio.AbstractEventLoop) -> None:
        """Copy output lines into the buffer until the engine closes it, then report its exit."""
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self._log.append(line)
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()
        code = self.proc.wait()
        if self._file is not None:
            self._file.close()
        with contextlib.suppress(RuntimeError):  # the loop closed first: nobody is waiting
            loop.call_soon_threadsafe(_settle, self.exited, code)

    @property
    def alive(self) -> bool:
        return not self.exited.done() and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    async def stop(self, timeout: float) -> None:
        """SIGTERM the group, SIGKILL it after `timeout` s; returns once the engine is gone.
        An engine that exited long ago is left alone: its group id may name someone else now."""
        if self.exited.done():
            return
        if self.alive:
            self.signal_group(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(self.exited), timeout)
            except TimeoutError:
                self.signal_group(signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.exited), 5.0)
        self.signal_group(signal.SIGKILL)  # helpers of the engine still in its group


def _settle(future: asyncio.Future[int], code: int) -> None:
    if not future.done():
        future.set_result(code)
