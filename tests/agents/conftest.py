"""Agents stores under test: a SQLite file in a temp dir, and a fresh schema in the real
PostgreSQL (dropped afterwards)."""

from __future__ import annotations

import pytest

from comox.testing.databases import database_url


@pytest.fixture(params=["sqlite", "postgres"])
def agents_url(request, tmp_path):
    yield from database_url(request.param, tmp_path, "agents")
