"""Real databases for tests: a SQLite file in a temp dir, or a fresh PostgreSQL schema that is
dropped afterwards (PostgreSQL runs on 127.0.0.1:5432; `.ci/run` starts it when it is down)."""

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
