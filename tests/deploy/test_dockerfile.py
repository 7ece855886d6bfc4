"""The container image runs as a non-root user and leaves local clutter out of its context."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_image_runs_as_non_root_from_a_slim_base():
    lines = [x.strip() for x in (ROOT / "deploy" / "Dockerfile").read_text().splitlines()]
    assert all(x.split()[1].endswith("-slim") or " AS " in x for x in lines if x.startswith("FROM"))
    user = [x for x in lines if x.startswith("USER ")]
    assert user and user[-1].split()[1].split(":")[0] not in ("0", "root")
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
