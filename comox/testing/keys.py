"""Helpers for tests of tenancy: the `comox` CLI as a process, and waiting for a condition."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def cli(*args: str | Path) -> str:
    """Run `comox ARGS`; its stdout, or AssertionError with stderr when it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "comox.cli", *map(str, args)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def create_key(config: Path, tenant: str, *options: str) -> str:
    """A new key from `comox keys create`: the last line of its output."""
    return cli("keys", "create", "--config", config, "--tenant", tenant, *options).strip().splitlines()[-1]


def wait_until(check: Callable[[], bool], timeout: float = 5.0, every: float = 0.02) -> float:
    """Seconds until `check()` held; AssertionError after `timeout`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)
    return time.monotonic() - start


def request(
    port: int,
    method: str,
    path: str,
    body: dict | bytes | None = None,
    key: str | None = None,
    **headers: str,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: (status, lower-cased headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    hdrs = {"content-type": "application/json", **{k.replace("_", "-"): v for k, v in headers.items()}}
    if key is not None:
        hdrs["authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    conn.request(method, path, data, hdrs)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload


def chat(port: int, key: str | None, model: str = "test-model", **extra) -> tuple[int, dict[str, str], bytes]:
    body = {"model": model, "messages": [{"role": "user", "content": "hello there"}], **extra}
    return request(port, "POST", "/v1/chat/completions", body, key)
