"""Real databases for tests: a SQLite file in a temp dir, a fresh PostgreSQL schema that is
dropped afterwards, or a fresh Redis key prefix that is deleted afterwards (PostgreSQL runs on
127.0.0.1:5432 and Redis on 127.0.0.1:6379; `.ci/run` starts them when they are down)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

PG_URL = "postgres://postgres@127.0.0.1:5432/test"


async def _drop_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await conn.close()


def database_url(kind: str, tmp_path: Path, name: str) -> Iterator[str]:
    """Yield a store URL of `kind` ("sqlite" or "postgres"); clean up after the yield."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/{name}.db"
        return
    schema = f"comox_{name}_{uuid.uuid4().hex[:10]}"
    yield f"{PG_URL}?schema={schema}"
    asyncio.run(_drop_schema(schema))


REDIS_URL = "redis://127.0.0.1:6379/0"


async def drop_redis_prefix(prefix: str, url: str = REDIS_URL) -> None:
    """Delete every Redis key under `prefix` (what a test wrote)."""
    import redis.asyncio as redis

    client = redis.from_url(url)
    keys = [k async for k in client.scan_iter(prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def redis_prefix(name: str) -> Iterator[str]:
    """Yield a fresh Redis key prefix; its keys are deleted after the yield."""
    prefix = f"comox-test-{name}-{uuid.uuid4().hex[:8]}:"
    yield prefix
    asyncio.run(drop_redis_prefix(prefix))
