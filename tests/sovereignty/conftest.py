import pytest


@pytest.fixture(scope="module")
def monkeypatch_module():
    """A monkeypatch that hypothesis examples may share (function-scoped fixtures may not)."""
    with pytest.MonkeyPatch.context() as patch:
        yield patch
