"""`comox engines`: the fleet as the running gateway sees it, or as configured.

First it asks the running gateway (GET /admin/backends at server.host:server.port, or --url,
with the config's admin_key): that shows live health, load, loaded models and managed
engine state. When no gateway answers, it lists the configured backends and probes each
one's health path once, so the command also helps before the first start. Managed backends
are not started by this command; without a gateway they show as "not running".
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request

from comox.engines.kinds import KINDS


def _get(url: str, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def from_gateway(config, url: str | None, timeout: float) -> list[dict] | None:
    """The running gateway's view, or None when none answers (an error it sends is raised)."""
    if url is None:
        host = config.server.host if config.server.host not in ("0.0.0.0", "::") else "127.0.0.1"
        url = f"http://{host}:{config.server.port}"
    headers = {}
    if config.admin_key is not None:
        headers["authorization"] = f"Bearer {config.admin_key.get_secret_value()}"
    try:
        status, body = _get(url.rstrip("/") + "/admin/backends", headers, timeout)
    except (urllib.error.URLError, OSError):
        return None
    if status != 200:
        raise SystemExit(
            f"comox engines: the gateway at {url} answered {status}: {body[:200].decode(errors='replace')}"
        )
    return json.loads(body)["data"]


def from_config(config, timeout: float) -> list[dict]:
    """The configured backends, each probed once at its kind's health path."""
    rows = []
    for b in config.backends:
        if b.managed is not None:
            healthy = None  # its engines run only inside a gateway
        else:
            try:
                status, _ = _get(b.url + KINDS[b.engine].health_path.decode(), {}, timeout)
                healthy = 200 <= status < 300
            except (urllib.error.URLError, OSError):
                healthy = False
        rows.append(
            {
                "name": b.name,
                "engine": b.engine,
                "address": f"{b.host}:{b.port}",
                "models": dict(b.models),
                "healthy": healthy,
                "load": None,
                "loaded_models": None,
                "managed": {"state": "not running"} if b.managed is not None else None,
            }
        )
    return rows


def render(rows: list[dict], live: bool) -> str:
    head = f"{'BACKEND':<16} {'ENGINE':<9} {'HEALTH':<9} {'LOAD (run/wait/kv)':<20} {'MODELS (loaded *)'}"
    lines = [head]
    for r in rows:
        health = {True: "up", False: "down", None: "-"}[r["healthy"]]
        load = r.get("load")
        load_text = f"{load['running']:g}/{load['waiting']:g}/{load['kv_cache']:.2f}" if load else "-"
        loaded = set(r.get("loaded_models") or ())
        models = ", ".join(f"{m}{'*' if m in loaded else ''}" for m in r["models"])
        if r.get("managed"):
            managed = r["managed"]
            models += (
                f"  [managed: {managed['state']}"
                + (f", pid {managed['pid']}" if managed.get("pid") else "")
                + "]"
            )
        lines.append(f"{r['name']:<16} {r['engine']:<9} {health:<9} {load_text:<20} {models}")
    source = "from the running gateway" if live else "from the config (no gateway answered; probed once)"
    return "\n".join([*lines, f"({source})"])


def cmd_engines(config, args: argparse.Namespace) -> int:
    rows = from_gateway(config, args.url, args.timeout)
    live = rows is not None
    if rows is None:
        rows = from_config(config, args.timeout)
    print(json.dumps(rows, indent=2) if args.json else render(rows, live))
    return 0 if live or all(r["healthy"] is not False for r in rows) else 1


def add_commands(sub, load) -> None:
    p = sub.add_parser("engines", help="list backends with kind, health, load and loaded models")
    p.add_argument("--config", help="config file (default: the embedded default)")
    p.add_argument("--url", help="the gateway's base URL (default: server.host:server.port of the config)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds per request")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=lambda args: cmd_engines(load(args.config), args))
