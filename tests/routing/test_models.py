import pytest

from comox.routing.models import ModelTable
from comox.server.errors import GatewayError


class FakeBackend:
    def __init__(self, name: str, models: dict[str, str]) -> None:
        self.name = name
        self.models = models


def test_public_names_map_to_engine_names_on_every_backend_that_serves_them():
    a = FakeBackend("a", {"llama": "meta-llama/Llama-3-8B"})
    b = FakeBackend("b", {"llama": "llama3", "qwen": "qwen"})
    table = ModelTable([a, b])
    assert table.names == ["llama", "qwen"]
    picks = table.targets("llama")
    assert [(t.backend.name, t.model) for t in picks] == [
        ("a", "meta-llama/Llama-3-8B"),
        ("b", "llama3"),
    ]


def test_unknown_model_lists_what_exists():
    table = ModelTable([FakeBackend("a", {"llama": "x"})])
    with pytest.raises(GatewayError) as info:
        table.targets("gpt")
    assert info.value.status == 404 and info.value.param == "model"
    assert "llama" in info.value.message
