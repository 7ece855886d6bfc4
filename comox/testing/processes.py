"""Start the test engine and the gateway as real processes, for tests and benchmarks."""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

_LISTENING = re.compile(r"listening on http://([^:]+):(\d+)")


@dataclass
class Proc:
    """A child process and its log; `stop()` always leaves nothing running."""

    proc: subprocess.Popen
    port: int
    log: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode

    def get_json(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=10) as resp:
            return json.loads(resp.read())

    def post_json(self, path: str, payload: dict) -> dict:
        data = json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data, {"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else {}


_STARTED: list[Proc] = []


@atexit.register
def _stop_leftovers() -> None:
    """Children run in their own sessions, so they outlive a test run that failed between
    starting one and handing it to its teardown: stop whatever is still running at exit."""
    for proc in _STARTED:
        if proc.proc.poll() is None:
            proc.stop(timeout=5.0)


def _drain(stream, sink: list[str]) -> None:
    for line in stream:
        sink.append(line)


def _spawn(
    args: list[str],
    ready: re.Pattern | str,
    stream: str,
    env: dict | None,
    timeout: float,
    preexec: Callable[[], None] | None = None,
) -> Proc:
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if stream == "stderr" else None,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
        preexec_fn=preexec,
    )
    source = proc.stderr if stream == "stderr" else proc.stdout
    log: list[str] = []
    deadline = time.monotonic() + timeout
    port = 0
    while time.monotonic() < deadline:
        line = source.readline()
        if not line:
            break
        log.append(line)
        if isinstance(ready, str):
            if line.startswith(ready):
                port = int(line.split()[1])
                break
        elif match := ready.search(line):
            port = int(match.group(2))
            break
    if not port:
        proc.kill()
        proc.wait(5)
        rest = source.read() if source else ""
        raise RuntimeError(f"{args} did not start:\n{''.join(log)}{rest}")
    threading.Thread(target=_drain, args=(source, log), daemon=True).start()
    started = Proc(proc, port, log)
    _STARTED.append(started)
    return started


def start_engine(*args: str, timeout: float = 20.0) -> Proc:
    """The project's test engine (`comox.testing.fake_engine`) on a free port."""
    argv = [sys.executable, "-m", "comox.testing.fake_engine", "--port", "0", *args]
    return _spawn(argv, "READY", "stdout", None, timeout)


def write_config(config: dict, directory: str | None = None) -> Path:
    fd, path = tempfile.mkstemp(suffix=".yaml", dir=directory)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f)
    return Path(path)


def start_gateway(
    config: dict | str | Path,
    *extra: str,
    env: dict | None = None,
    timeout: float = 20.0,
    preexec: Callable[[], None] | None = None,
) -> Proc:
    """`comox serve` on a free port, with a config given as a dict or a file; `preexec` runs in
    the child before exec (to lower its resource limits, say)."""
    path = write_config(config) if isinstance(config, dict) else Path(config)
    argv = [sys.executable, "-m", "comox.cli", "serve", "--config", str(path), "--port", "0", *extra]
    return _spawn(argv, _LISTENING, "stderr", env, timeout, preexec)


TOP_LEVEL = frozenset({"routing", "upstream"})


def gateway_config(*backends: dict, **options) -> dict:
    """A config dict for `start_gateway`: the given backends; `routing=`/`upstream=` blocks,
    and any other keyword as a `server` option."""
    top = {k: v for k, v in options.items() if k in TOP_LEVEL}
    server = {k: v for k, v in options.items() if k not in TOP_LEVEL}
    return {"server": {"host": "127.0.0.1", **server}, **top, "backends": list(backends)}


def backend(url: str, models: list[str] | dict[str, str], name: str = "gpu-a", **extra) -> dict:
    return {"name": name, "url": url, "engine": "vllm", "models": models, **extra}
