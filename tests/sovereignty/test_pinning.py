from collections import Counter
from types import SimpleNamespace

from comox.config.sovereignty import PinningConfig
from comox.sovereignty.pinning import PinningStage, split_choice
from tests.routing.fleet import call

SPLIT = {"llama@2025-06": 90.0, "llama@2025-09": 10.0}


def test_the_split_is_sticky_per_caller_and_follows_the_weights():
    assert len({split_choice(SPLIT, "llama", "u:alice") for _ in range(20)}) == 1
    shares = Counter(split_choice(SPLIT, "llama", f"u:{i}") for i in range(10_000))
    assert 8700 < shares["llama@2025-06"] < 9300


def test_key_pin_beats_tenant_pin_beats_split_and_the_body_names_the_version():
    config = PinningConfig(
        versions={"llama": SPLIT},
        tenants={"acme": {"llama": "llama@2025-09"}},
        keys={"k1": {"llama": "llama@2025-06"}},
    )
    stage = PinningStage(config)

    def run(key_id, tenant, user="bob"):
        c = call("llama", {"model": "llama", "messages": [], "user": user})
        c.principal = SimpleNamespace(id=key_id, tenant=tenant, metadata={})
        stage.admit(c)
        return c

    assert run("k1", "acme").model == "llama@2025-06"
    pinned = run("k2", "acme")
    assert pinned.model == pinned.payload["model"] == "llama@2025-09" and pinned.payload_changed
    assert run("k3", "other", user="alice").model == split_choice(SPLIT, "llama", "u:alice")
