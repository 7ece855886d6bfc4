"""`comox audit verify|search|export|erase|keygen`: the audit log from a shell.

Each command opens the audit store named by the config file (`--config`; the `audit:`
block is read whether or not `enabled` is set), does one thing and closes it. Secrets come
from the same files or environment variables as the gateway's.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import orjson

from comox.audit import operations
from comox.audit.crypto import KeyUnavailable, generate_secret
from comox.audit.jsonl import read_lines
from comox.audit.log import build, secrets_of
from comox.audit.query import Filters, parse_time
from comox.cache.persist import request_cache_erasure


async def _with_store(config, action) -> int:
    try:
        master, checkpoint = secrets_of(config.audit)
        store, keyring = build(config.audit, master, checkpoint)
    except KeyUnavailable as exc:
        print(f"comox: {exc}", file=sys.stderr)
        return 2
    await store.open()
    try:
        return await action(store, keyring, checkpoint)
    except KeyUnavailable as exc:
        print(f"comox: {exc}", file=sys.stderr)
        return 2
    finally:
        await store.aclose()


def verify(config, args: argparse.Namespace) -> int:
    if args.jsonl:
        _, checkpoint = secrets_of(config.audit)
        report = operations.verify_rows(*read_lines(args.jsonl), checkpoint)
        return _report(report)

    async def run(store, keyring, checkpoint) -> int:
        return _report(await operations.verify(store, checkpoint))

    return asyncio.run(_with_store(config, run))


def _report(report) -> int:
    print(operations.describe_report(report))
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0 if report.ok else 1


def search(config, args: argparse.Namespace) -> int:
    try:
        filters = Filters(
            since=parse_time(args.since) if args.since else None,
            until=parse_time(args.until) if args.until else None,
            tenant=args.tenant,
            key_id=args.key,
            model=args.model,
            backend=args.backend,
            status=args.status,
            subject=args.subject,
            after=args.after,
            limit=args.limit,
        )
    except ValueError as exc:
        print(f"comox: {exc}", file=sys.stderr)
        return 2

    async def run(store, keyring, checkpoint) -> int:
        for record in await operations.search(store, filters):
            sys.stdout.write(orjson.dumps(record).decode() + "\n")
        return 0

    return asyncio.run(_with_store(config, run))


def export(config, args: argparse.Namespace) -> int:
    async def run(store, keyring, checkpoint) -> int:
        out = open(args.out, "wb") if args.out else sys.stdout.buffer  # noqa: SIM115
        try:
            count = 0
            async for record in operations.export_subject(store, keyring, args.subject, args.tenant):
                out.write(orjson.dumps(record) + b"\n")
                count += 1
        finally:
            if args.out:
                out.close()
        print(f"exported {count} records of subject {args.subject}", file=sys.stderr)
        return 0

    return asyncio.run(_with_store(config, run))


def erase(config, args: argparse.Namespace) -> int:
    async def run(store, keyring, checkpoint) -> int:
        erased = await operations.erase(keyring, args.subject, args.tenant)
        where = f" in tenant {args.tenant}" if args.tenant else ""
        print(
            f"erased {len(erased)} content key(s) of subject {args.subject}{where}; its content is unreadable"
        )
        if config.cache.redis is not None:
            from comox.cache.shared import erase_everywhere

            try:
                count = await erase_everywhere(config.cache, args.subject, args.tenant)
            except Exception as exc:
                print(f"cannot reach the shared cache to erase the subject's answers: {exc}", file=sys.stderr)
                return 1
            print(f"erased {count} cached answer(s) of the subject from the shared cache")
        elif request_cache_erasure(config.cache, args.subject, args.tenant):
            print(
                "cached answers of the subject: erasure journalled; running workers drop them within seconds"
            )
        if config.agents.enabled:  # the subject's agent memory goes with it
            from comox.agents.erase import erase_user

            scopes = await erase_user(config.agents, args.subject, args.tenant)
            print(f"erased the agent memory of subject {args.subject} with {len(scopes)} agent(s)")
        return 0

    return asyncio.run(_with_store(config, run))


def keygen(config, args: argparse.Namespace) -> int:
    print(generate_secret())
    return 0


def add_commands(sub, load) -> None:
    """Register `audit ...` under the `comox` parser; `load(path)` reads a config."""

    def runner(fn):
        return lambda args: fn(load(args.config), args)

    audit = sub.add_parser("audit", help="verify, search, export and erase the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)

    v = audit_sub.add_parser(
        "verify", help="check the hash chain and signed checkpoints; exit 1 on a problem"
    )
    v.add_argument("--config")
    v.add_argument("--jsonl", metavar="FILE", help="verify a JSON Lines copy instead of the store")
    v.set_defaults(func=runner(verify))

    s = audit_sub.add_parser("search", help="records (metadata only) as JSON Lines")
    s.add_argument("--config")
    s.add_argument("--since", help="UTC time or date, inclusive")
    s.add_argument("--until", help="UTC time or date, exclusive")
    s.add_argument("--tenant")
    s.add_argument("--key", help="key id")
    s.add_argument("--model")
    s.add_argument("--backend")
    s.add_argument("--status", type=int)
    s.add_argument("--subject")
    s.add_argument("--after", type=int, default=0, help="only records after this seq (paging)")
    s.add_argument("--limit", type=int, default=100)
    s.set_defaults(func=runner(search))

    e = audit_sub.add_parser("export", help="a subject's records with content decrypted (GDPR art. 15)")
    e.add_argument("--config")
    e.add_argument("--subject", required=True)
    e.add_argument("--tenant")
    e.add_argument("--out", help="file to write (default: stdout)")
    e.set_defaults(func=runner(export))

    r = audit_sub.add_parser("erase", help="destroy a subject's content key (GDPR art. 17)")
    r.add_argument("--config")
    r.add_argument("--subject", required=True)
    r.add_argument("--tenant", help="only in this tenant (default: every tenant)")
    r.set_defaults(func=runner(erase))

    k = audit_sub.add_parser(
        "keygen", help="print a new random 32-byte key (base64) for the master or checkpoint key"
    )
    k.add_argument("--config")
    k.set_defaults(func=lambda args: keygen(None, args))
