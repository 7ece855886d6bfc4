"""What every PostgreSQL store shares: the `?schema=` URL option and a pool whose tables are
created once, under an advisory lock, however many workers start together."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg


def split_schema(url: str) -> tuple[str, str]:
    """The DSN without `?schema=`, and the schema it named (default `public`)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "schema"), "public")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, "")), schema


DDL_LOCK = 0x636F6D6F78444C
"""One lock for all stores: `CREATE SCHEMA IF NOT EXISTS` is not safe against itself, so two
stores (keys in one worker, agents in another) creating one schema at once must take turns."""


async def open_pool(dsn: str, schema: str, ddl: str, size: int) -> asyncpg.Pool:
    """Create `schema` and run `ddl` in it (idempotent DDL), then a pool that uses it."""
    quoted = '"' + schema.replace('"', '""') + '"'
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({DDL_LOCK})")
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
            await conn.execute(f"SET LOCAL search_path TO {quoted}")
            await conn.execute(ddl)
    finally:
        await conn.close()
    return await asyncpg.create_pool(dsn, min_size=1, max_size=size, server_settings={"search_path": schema})


class PooledStore:
    """The life of a store on a pool of connections to one schema: `open` creates its tables
    from the class's `DDL`, `aclose` closes the pool. Stores add their queries on `_pool`."""

    DDL = ""

    def __init__(self, dsn: str, schema: str = "public", pool_size: int = 4) -> None:
        self.dsn = dsn
        self.schema = schema
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    @classmethod
    def from_url(cls, url: str):
        """postgres://user@host:5432/db[?schema=name] (default schema `public`)."""
        dsn, schema = split_schema(url)
        return cls(dsn, schema)

    async def open(self) -> None:
        self._pool = await open_pool(self.dsn, self.schema, self.DDL, self.pool_size)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
