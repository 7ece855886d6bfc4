"""The Grafana dashboard is valid JSON and queries only metrics the gateway exports."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from comox.config import parse_config
from comox.gateway import Gateway
from comox.observability.collect import collect

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "comox.json"
_METRIC = re.compile(r"\bcomox_[a-z0-9_]+")
_SUFFIXES = ("_bucket", "_sum", "_count")


def exported_names() -> set[str]:
    """Every sample name a gateway's /metrics can show (families are listed even when empty)."""
    config = parse_config("backends: [{name: a, url: 'http://127.0.0.1:9', engine: vllm, models: [m]}]")

    async def names() -> set[str]:
        gateway = Gateway(config)
        families = collect(gateway, gateway.observability.exchanges, 0.0)
        found = set()
        for f in families:
            found.add(f.name)
            if f.type == "histogram":
                found.update(f.name + s for s in _SUFFIXES)
        return found

    return asyncio.run(names())


def queries(node) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k in ("expr", "definition") and isinstance(v, str)]
        query = node.get("query")
        if isinstance(query, dict) and isinstance(query.get("query"), str):
            found.append(query["query"])
        return found + [q for v in node.values() for q in queries(v)]
    if isinstance(node, list):
        return [q for v in node for q in queries(v)]
    return []


def test_dashboard_queries_name_only_exported_metrics():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["panels"]
    exprs = queries(dashboard)
    assert len(exprs) >= 20
    used = {name for e in exprs for name in _METRIC.findall(e)}
    missing = used - exported_names()
    assert not missing, f"the dashboard queries metrics the gateway does not export: {sorted(missing)}"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["targets"] and all(t["expr"] for t in panel["targets"])
