"""The audit stores under test: a SQLite file in a temp dir, a fresh schema in the real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest

PG_URL = "postgres://postgres@127.0.0.1:5432/test"


async def _drop_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def audit_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/audit.db"
        return
    schema = f"comox_audit_{uuid.uuid4().hex[:10]}"
    yield f"{PG_URL}?schema={schema}"
    asyncio.run(_drop_schema(schema))
