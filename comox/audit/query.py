"""Search filters over the audit log and their SQL, shared by the SQLite and PostgreSQL stores."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime

from comox.audit.record import COLUMNS, utc_iso

SELECT = ", ".join(COLUMNS)
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Filters:
    """Every field left None matches all. Times are UTC ISO-8601 (see `parse_time`)."""

    since: str | None = None
    until: str | None = None
    tenant: str | None = None
    key_id: str | None = None
    model: str | None = None
    backend: str | None = None
    status: int | None = None
    subject: str | None = None
    after: int = 0
    """Only records with a larger seq (paging: pass the last seq of the previous page)."""
    limit: int = 100


_EQUAL = ("tenant", "key_id", "model", "backend", "status", "subject")


def parse_time(value: str) -> str:
    """A date, a datetime (naive means UTC) or Unix seconds -> the log's ISO form.
    ValueError with a readable message otherwise."""
    try:
        when = datetime.fromtimestamp(float(value), UTC)
    except ValueError:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{value!r} is not a time: use 2025-01-31, 2025-01-31T12:00:00Z or Unix seconds"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    return utc_iso(when.timestamp())


def where(filters: Filters, placeholder) -> tuple[str, list]:
    """(' WHERE ...', params); `placeholder(n)` renders the n-th parameter (1-based)."""
    clauses, params = ["seq > " + placeholder(1)], [filters.after]
    if filters.since is not None:
        params.append(filters.since)
        clauses.append("ts >= " + placeholder(len(params)))
    if filters.until is not None:
        params.append(filters.until)
        clauses.append("ts < " + placeholder(len(params)))
    for name in _EQUAL:
        value = getattr(filters, name)
        if value is not None:
            params.append(value)
            clauses.append(f"{name} = {placeholder(len(params))}")
    return " WHERE " + " AND ".join(clauses), params


def search_sql(filters: Filters, placeholder) -> tuple[str, list]:
    clause, params = where(filters, placeholder)
    limit = max(1, min(filters.limit, MAX_LIMIT))
    return f"SELECT {SELECT} FROM audit_log{clause} ORDER BY seq LIMIT {limit}", params


FILTER_NAMES = tuple(f.name for f in fields(Filters))
