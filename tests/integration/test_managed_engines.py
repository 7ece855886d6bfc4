"""Managed engines as real processes: the gateway starts the test engine itself, restarts it
after a crash, swaps models under a budget of one, and leaves nothing behind when killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from comox.testing.processes import Proc, start_gateway, write_config

ADMIN = "admin-managed-test"
COMMAND = ["{python}", "-m", "comox.testing.fake_engine", "--port", "{port}", "--model", "{model}"]


def managed_config(tmp_path, models: list[str], **managed) -> dict:
    return {
        "server": {"host": "127.0.0.1"},
        "store": f"sqlite:///{tmp_path}/comox.db",
        "admin_key": ADMIN,
        "routing": {"health": {"interval": 0.5}, "retries": 0},
        "backends": [
            {
                "name": "chars",
                "engine": "vllm",
                "models": models,
                "managed": {
                    "command": COMMAND,
                    "ready_timeout": 20,
                    "load_timeout": 20,
                    "restart_backoff": 0.2,
                    "restart_backoff_max": 2,
                    "log_dir": str(tmp_path / "engines"),
                    **managed,
                },
            }
        ],
    }


def call(gateway: Proc, method: str, path: str, key: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    req = urllib.request.Request(gateway.url + path, data, headers, method=method)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


_KEYS: dict[int, str] = {}


def chat(gateway: Proc, model: str) -> dict:
    """A chat call with a client key (made once per gateway: an admin key closes open mode)."""
    key = _KEYS.get(gateway.port)
    if key is None:
        call(gateway, "POST", "/admin/tenants", ADMIN, {"name": "t"})
        key = _KEYS[gateway.port] = call(gateway, "POST", "/admin/keys", ADMIN, {"tenant": "t"})["key"]
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
    return call(gateway, "POST", "/v1/chat/completions", key, body)


def backends(gateway: Proc) -> dict:
    return call(gateway, "GET", "/admin/backends", ADMIN)


def engine_pids(gateway: Proc) -> dict[str, int | None]:
    return {b["managed"]["model"]: b["managed"]["pid"] for b in backends(gateway)["data"]}


def wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"  # a zombie is dead, just not reaped
    except FileNotFoundError:
        return True


def test_loaded_on_first_request_restarted_after_a_crash(spawn, tmp_path):
    gateway = spawn(start_gateway, managed_config(tmp_path, ["char-a"]))
    assert engine_pids(gateway) == {"char-a": None}  # nothing runs before it is asked for
    assert chat(gateway, "char-a")["choices"][0]["message"]["content"]
    first = engine_pids(gateway)["char-a"]
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: engine_pids(gateway)["char-a"] not in (None, first))
    assert chat(gateway, "char-a")["choices"][0]["message"]["content"]  # serving again
    listed = backends(gateway)["data"][0]
    assert listed["managed"]["restarts"] == 1 and listed["managed"]["state"] == "running"
    assert listed["loaded_models"] == ["char-a"] and listed["engine"] == "vllm"
    # the engine's /v1/models max_model_len, read once the restarted engine is up
    wait_for(lambda: backends(gateway)["data"][0]["context_windows"] == {"char-a": 4096})
    assert (tmp_path / "engines" / "chars-char-a.log").exists()
    assert gateway.get_json("/ready")["status"] == "ready"
    last = engine_pids(gateway)["char-a"]
    gateway.stop()  # SIGTERM: the gateway stops its engines on the way out
    assert gone(last)


def test_a_killed_gateway_leaves_no_engine_behind(tmp_path):
    gateway = start_gateway(managed_config(tmp_path, ["char-a", "char-b"], preload=True))
    try:
        pids = wait_for(lambda: (p := engine_pids(gateway)) and all(p.values()) and p)
        os.kill(gateway.proc.pid, signal.SIGKILL)
        gateway.proc.wait(5)
        wait_for(lambda: all(gone(pid) for pid in pids.values()), timeout=10)
    finally:
        gateway.stop()


def test_budget_of_one_swaps_models_requested_alternately(spawn, tmp_path):
    path = write_config(managed_config(tmp_path, ["char-a", "char-b"], max_loaded=1))
    gateway = spawn(start_gateway, path)
    for model in ["char-a", "char-b"] * 3:
        answer = chat(gateway, model)
        assert answer["model"] == model and answer["choices"][0]["message"]["content"]
        running = [m for m, pid in engine_pids(gateway).items() if pid is not None]
        assert running == [model]
    swaps = backends(gateway)["managed"]["chars"]
    assert swaps["loads"] == 6 and swaps["evictions"] == 5
    cli = subprocess.run(
        [sys.executable, "-m", "comox.cli", "engines", "--config", str(path), "--url", gateway.url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert cli.returncode == 0, cli.stderr
    assert "char-b*" in cli.stdout and "managed: running" in cli.stdout and "running gateway" in cli.stdout
    metrics = urllib.request.urlopen(gateway.url + "/metrics", timeout=10).read().decode()
    assert 'comox_model_loads_total{backend="chars"} 6' in metrics
    assert 'comox_model_evictions_total{backend="chars"} 5' in metrics


def test_a_model_that_never_becomes_ready_times_out_clearly(spawn, tmp_path):
    config = managed_config(tmp_path, ["slow"], load_timeout=1, ready_timeout=30)
    config["backends"][0]["managed"]["command"] = ["{python}", "-c", "import time; time.sleep(60)", "{port}"]
    gateway = spawn(start_gateway, config)
    with pytest.raises(urllib.error.HTTPError) as info:
        chat(gateway, "slow")
    assert info.value.code == 503
    assert json.loads(info.value.read())["error"]["code"] == "model_loading_timeout"
    with pytest.raises(urllib.error.HTTPError) as info:  # a model still loading cannot serve yet
        gateway.get_json("/ready")
    assert info.value.code == 503 and json.loads(info.value.read())["backends"] == {"chars": "down"}


def test_concurrent_requests_for_two_models_under_a_budget_of_one_all_succeed(spawn, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    gateway = spawn(start_gateway, managed_config(tmp_path, ["char-a", "char-b"], max_loaded=1))
    chat(gateway, "char-a")  # makes the client key before the threads start
    for _ in range(3):  # waiters of one model must never queue behind a wait for the other
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda m: chat(gateway, m)["model"], ["char-a", "char-b"] * 3))
        assert answers == ["char-a", "char-b"] * 3
    assert sum(pid is not None for pid in engine_pids(gateway).values()) == 1


def test_an_idle_model_is_unloaded_and_loads_again_on_demand(spawn, tmp_path):
    gateway = spawn(start_gateway, managed_config(tmp_path, ["char-a"], idle_unload=0.4))
    chat(gateway, "char-a")
    wait_for(lambda: engine_pids(gateway)["char-a"] is None, timeout=5)
    assert backends(gateway)["managed"]["chars"]["idle_unloads"] == 1
    assert chat(gateway, "char-a")["model"] == "char-a"


def test_a_command_that_cannot_start_is_retried_and_requests_time_out(spawn, tmp_path):
    config = managed_config(tmp_path, ["ghost"], load_timeout=1)
    config["backends"][0]["managed"]["command"] = [str(tmp_path / "no-such-engine"), "{port}"]
    gateway = spawn(start_gateway, config)
    with pytest.raises(urllib.error.HTTPError) as info:
        chat(gateway, "ghost")
    assert json.loads(info.value.read())["error"]["code"] == "model_loading_timeout"
    managed = backends(gateway)["data"][0]["managed"]
    assert managed["restarts"] >= 1 and "could not start" in managed["last_log"][-1]
