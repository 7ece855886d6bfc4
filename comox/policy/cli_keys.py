"""`comox keys create|list|revoke` and `comox usage`: the registry from a shell.

Each command opens the store named by the config file (`--config`, else the embedded
default), does one thing and closes it. Running gateways see key changes within
`tenancy.key_refresh_interval`. `keys create` prints the new key alone on its last line,
so scripts can take it with `tail -n1`; it is shown this once and stored only as a hash.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime

import orjson

from comox.policy.registry import NotFound, Registry, usage_csv
from comox.stores.base import StoreError, open_store


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(pairs: list[str]) -> dict[str, str]:
    meta = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"comox: --meta takes NAME=VALUE, got {pair!r}")
        meta[name] = value
    return meta


async def _with_registry(config, action) -> int:
    store = open_store(config.store)
    await store.open()
    try:
        return await action(Registry(store, config.tenancy.key_defaults))
    except (NotFound, StoreError) as exc:
        print(f"comox: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.aclose()


def create(config, args: argparse.Namespace) -> int:
    async def run(registry: Registry) -> int:
        tenant, created = await registry.ensure_tenant(args.tenant)
        if created:
            print(f"created tenant {tenant.name}")
        policy = {
            "name": args.name,
            "models": args.models,
            "rpm": args.rpm,
            "tpm": args.tpm,
            "token_budget": args.token_budget,
            "budget_period": args.budget_period,
            "max_tokens": args.max_tokens,
            "data_class": args.data_class,
            "allow_cloud": False if args.no_cloud else None,
            "metadata": _meta(args.meta) or None,
            "expires_at": time.time() + args.expires_in if args.expires_in else None,
        }
        secret, record = await registry.create_key(tenant.name, **policy)
        print(f"created key {record.id} for tenant {record.tenant} (expires {_when(record.expires_at)})")
        print("the key is shown only now; store it safely:")
        print(secret)
        return 0

    return asyncio.run(_with_registry(config, run))


def list_keys(config, args: argparse.Namespace) -> int:
    async def run(registry: Registry) -> int:
        keys = await registry.list_keys(args.tenant)
        if args.json:
            print(orjson.dumps([k.public() for k in keys]).decode())
            return 0
        print(f"{'ID':<22} {'TENANT':<16} {'NAME':<16} {'STATE':<8} {'EXPIRES':<20} MODELS")
        for k in keys:
            state = (
                "revoked"
                if k.revoked_at
                else "expired"
                if k.expires_at and k.expires_at < time.time()
                else "active"
            )
            print(
                f"{k.id:<22} {k.tenant:<16} {k.name:<16} {state:<8} {_when(k.expires_at):<20} {','.join(k.models)}"
            )
        return 0

    return asyncio.run(_with_registry(config, run))


def revoke(config, args: argparse.Namespace) -> int:
    async def run(registry: Registry) -> int:
        record = await registry.revoke_key(args.key_id)
        print(f"revoked key {record.id} of tenant {record.tenant} at {_when(record.revoked_at)}")
        return 0

    return asyncio.run(_with_registry(config, run))


def usage(config, args: argparse.Namespace) -> int:
    async def run(registry: Registry) -> int:
        rows = await registry.usage(args.since or "0001-01-01", args.until or "9999-12-31", args.tenant)
        sys.stdout.write(usage_csv(rows))
        return 0

    return asyncio.run(_with_registry(config, run))


def add_commands(sub, load) -> None:
    """Register `keys` and `usage` under the `comox` parser; `load(path)` reads a config."""

    def runner(fn):
        return lambda args: fn(load(args.config), args)

    keys = sub.add_parser("keys", help="create, list and revoke API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)

    c = keys_sub.add_parser("create", help="create a key (and its tenant if new); prints the key last")
    c.add_argument("--config", help="config file naming the store (default: the embedded default)")
    c.add_argument("--tenant", required=True)
    c.add_argument("--name", help="a label for the key, e.g. who uses it")
    c.add_argument("--models", nargs="+", metavar="GLOB", help="models the key may use (default: all)")
    c.add_argument("--rpm", type=int, help="requests per minute")
    c.add_argument("--tpm", type=int, help="tokens per minute")
    c.add_argument("--token-budget", type=int, help="tokens per budget period")
    c.add_argument("--budget-period", choices=["day", "month"])
    c.add_argument("--max-tokens", type=int, help="cap on max_tokens per request")
    c.add_argument("--data-class", help="default data class of the key's requests")
    c.add_argument(
        "--no-cloud", action="store_true", help="never route this key's requests to cloud backends"
    )
    c.add_argument("--expires-in", type=float, metavar="SECONDS", help="the key stops working after this")
    c.add_argument("--meta", action="append", metavar="NAME=VALUE", help="metadata, e.g. owner=alice")
    c.set_defaults(func=runner(create))

    ls = keys_sub.add_parser("list", help="list keys (never the secrets)")
    ls.add_argument("--config")
    ls.add_argument("--tenant")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=runner(list_keys))

    rv = keys_sub.add_parser("revoke", help="revoke a key by its id")
    rv.add_argument("key_id")
    rv.add_argument("--config")
    rv.set_defaults(func=runner(revoke))

    u = sub.add_parser("usage", help="usage per day, tenant, key, model and backend, as CSV")
    u.add_argument("--config")
    u.add_argument("--since", help="first day, YYYY-MM-DD")
    u.add_argument("--until", help="last day, YYYY-MM-DD")
    u.add_argument("--tenant")
    u.set_defaults(func=runner(usage))
