"""Running the gateway: one worker in-process, or a supervisor forking several.

Each worker binds its own SO_REUSEPORT socket so the kernel spreads connections evenly and
one worker's stall never blocks another's accept. The supervisor only forwards signals and
replaces workers that die; it never touches a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import tempfile
import time

import uvloop

from comox.server.listen import reuseport_socket

log = logging.getLogger("comox")


def serve(config, host: str, port: int, workers: int) -> int:
    _raise_fd_limit()
    if workers <= 1:
        return run_worker(config, host, port)
    return _supervise(config, host, port, workers)


def run_worker(config, host: str, port: int, index: int = 0) -> int:
    return uvloop.run(_worker(config, host, port, index))


async def _worker(config, host: str, port: int, index: int) -> int:
    from comox.gateway import Gateway, StartupError

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        sock = reuseport_socket(host, port, config.server.backlog)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc.strerror or exc)
        return 1
    bound_host, bound_port = sock.getsockname()[:2]
    gateway = Gateway(config, index)
    try:
        await gateway.start(sock)
    except StartupError as exc:
        log.error("%s", exc)
        sock.close()
        with contextlib.suppress(Exception):
            await gateway.aclose()
        return 1
    log.info(
        "listening on http://%s:%d",
        bound_host,
        bound_port,
        extra={"fields": {"worker": index, "backends": len(gateway.backends)}},
    )
    await stop.wait()
    log.info("draining", extra={"fields": {"worker": index, "in_flight": len(gateway.connections)}})
    clean = await gateway.drain(config.server.drain_timeout)
    await gateway.aclose()
    log.info("stopped", extra={"fields": {"worker": index, "clean": clean}})
    return 0


def _supervise(config, host: str, port: int, workers: int) -> int:
    metrics = config.observability.metrics
    scratch = None
    if metrics.enabled:  # a scrape reaches one worker: they share snapshots in a directory
        from comox.config.observability import with_multiprocess_dir
        from comox.observability.shared import clear

        if metrics.multiprocess_dir is None:
            scratch = tempfile.mkdtemp(prefix="comox-metrics-")
            config = with_multiprocess_dir(config, scratch)
        clear(config.observability.metrics.multiprocess_dir)
    try:
        return _run_workers(config, host, port, workers)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _run_workers(config, host: str, port: int, workers: int) -> int:
    # Port 0 must resolve to one port for every worker: hold a member of the group open.
    anchor = reuseport_socket(host, port, 0, listen=False)
    port = anchor.getsockname()[1]
    children: dict[int, int] = {}
    stopping = False

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            _die_with_parent()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            anchor.close()
            code = 1
            try:
                code = run_worker(config, host, port, index)
            finally:
                os._exit(code)
        children[pid] = index

    def on_signal(signum: int, _frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            _kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for index in range(workers):
        spawn(index)
    anchor.close()
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        index = children.pop(pid, None)
        if index is None or stopping:
            continue
        log.error(
            "worker died; restarting",
            extra={"fields": {"worker": index, "status": os.waitstatus_to_exitcode(status)}},
        )
        time.sleep(0.5)
        if not stopping:
            spawn(index)
    return 0


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker if the supervisor dies, so no worker is orphaned."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _raise_fd_limit() -> None:
    """Every proxied stream holds two descriptors (client and engine): take the whole hard
    limit the system allows, as nginx's worker_rlimit_nofile would, instead of the soft default."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            log.warning(
                "could not raise the open-files limit", extra={"fields": {"soft": soft, "hard": hard}}
            )
