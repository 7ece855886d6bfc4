"""The data-flow report: where data of a class may go, in one page or as JSON.

`comox policy explain --config FILE --class personal` prints it; `GET /admin/policy` returns
the same as JSON. It is computed from the config alone, with the same `decide` the gateway
uses on every request, so the report cannot drift from what the gateway does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import orjson

from comox.sovereignty.policy import Labels, Policy, decide


def flow(policy: Policy, class_name: str, models: dict[str, tuple[str, ...]]) -> dict:
    """Where `class_name` may go: per backend, allowed or why not, and whether PII is redacted."""
    rule = policy.rules[class_name]
    rows = []
    for name, labels in policy.labels.items():
        verdict = decide(rule, labels)
        rows.append(
            {
                "backend": name,
                "jurisdiction": labels.jurisdiction,
                "region": labels.region,
                "operator": labels.operator,
                "tier": "cloud" if labels.cloud else "local",
                "models": list(models.get(name, ())),
                "allowed": verdict.allowed,
                "pii_redacted": verdict.redact,
                "reason": verdict.reason or None,
            }
        )
    allowed = [r for r in rows if r["allowed"]]
    return {
        "class": class_name,
        "rule": {**rule.model_dump(mode="json"), "text": policy.describe(class_name)},
        "backends": rows,
        "jurisdictions": sorted({r["jurisdiction"] or "unlabelled" for r in allowed}),
        "operators": sorted({r["operator"] for r in allowed}),
        "summary": summary(class_name, allowed, len(rows)),
    }


def summary(class_name: str, allowed: list[dict], total: int) -> str:
    """The one sentence a privacy lawyer asks for."""
    if not allowed:
        return f"Data of class '{class_name}' is sent to no backend: every request of this class is refused."
    places = ", ".join(sorted({r["jurisdiction"] or "unlabelled" for r in allowed}))
    operators = ", ".join(sorted({r["operator"] for r in allowed}))
    redacted = [r["backend"] for r in allowed if r["pii_redacted"]]
    cloud = any(r["tier"] == "cloud" for r in allowed)
    text = (
        f"Data of class '{class_name}' may be processed by {len(allowed)} of {total} backends, "
        f"only in {places}, operated by {operators}, {'including' if cloud else 'never on'} cloud backends"
    )
    if redacted:
        text += f"; personal data is replaced by placeholders before it reaches {', '.join(redacted)}"
    return text + "; it is never sent anywhere else, including on failover."


def report(config) -> dict:
    """The whole policy as JSON: every class's flow, in order from least to most sensitive."""
    s = config.sovereignty
    if not s.enabled:
        return {"enabled": False, "classes": [], "flows": []}
    policy = Policy(s, [Labels.of(b) for b in config.backends])
    models = {b.name: tuple(b.models) for b in config.backends}
    return {
        "enabled": True,
        "classes": list(policy.names),
        "default_class": policy.default_class,
        "pii_class": policy.pii_class,
        "redaction": s.redaction.model_dump(mode="json"),
        "pinning": s.pinning.model_dump(mode="json"),
        "flows": [flow(policy, name, models) for name in policy.names],
    }


def render(one: dict) -> str:
    lines = [one["summary"], "", f"Rule: {one['rule']['text']}.", ""]
    width = max(len(r["backend"]) for r in one["backends"])
    for r in one["backends"]:
        verdict = (
            ("yes, PII redacted" if r["pii_redacted"] else "yes") if r["allowed"] else f"no: {r['reason']}"
        )
        where = f"{r['jurisdiction'] or '-'}/{r['region'] or '-'}"
        lines.append(
            f"  {r['backend']:<{width}}  {where:<18} {r['operator']:<12} {r['tier']:<5}  {verdict}"
            f"  [{', '.join(r['models'])}]"
        )
    return "\n".join(lines)


def cmd_explain(load: Callable, args: argparse.Namespace) -> int:
    config = load(args.config)
    full = report(config)
    if not full["enabled"]:
        print(
            "No data classes are configured (sovereignty.classes is empty): policy is off.", file=sys.stderr
        )
        return 1
    if args.data_class is None:
        chosen = full["flows"]
    else:
        chosen = [f for f in full["flows"] if f["class"] == args.data_class]
        if not chosen:
            print(f"Unknown class '{args.data_class}'; known: {', '.join(full['classes'])}", file=sys.stderr)
            return 2
    if args.json:
        print(orjson.dumps(chosen[0] if args.data_class else full, option=orjson.OPT_INDENT_2).decode())
    else:
        print("\n\n".join(render(f) for f in chosen))
    return 0


def add_commands(sub, load: Callable) -> None:
    policy = sub.add_parser("policy", help="residency policy: where each data class may go")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    explain = policy_sub.add_parser("explain", help="print where data of a class may go")
    explain.add_argument("--config", help="YAML config file (default: the embedded default config)")
    explain.add_argument("--class", dest="data_class", help="one class (default: every class)")
    explain.add_argument("--json", action="store_true", help="print JSON, as GET /admin/policy")
    explain.set_defaults(func=lambda args: cmd_explain(load, args))
