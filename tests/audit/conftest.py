"""The audit stores under test: a SQLite file in a temp dir, a fresh schema in the real PostgreSQL."""

from __future__ import annotations

import pytest

from comox.testing.databases import database_url


@pytest.fixture(params=["sqlite", "postgres"])
def audit_url(request, tmp_path):
    yield from database_url(request.param, tmp_path, "audit")
