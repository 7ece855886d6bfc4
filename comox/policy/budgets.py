"""Budget periods: calendar days and months in UTC, as pure functions of a timestamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def period_bounds(now: float, period: str) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of the period holding `now`."""
    t = datetime.fromtimestamp(now, UTC)
    if period == "day":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def period_label(start: datetime, period: str) -> str:
    """'2024-06-03' for a day, '2024-06' for a month: part of the counter key."""
    return start.strftime("%Y-%m-%d" if period == "day" else "%Y-%m")


def day_of(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
