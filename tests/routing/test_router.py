from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comox.config.routing import ModelRouting, RoutingConfig
from comox.engines.metrics import EngineLoad
from comox.routing.router import Router
from comox.server.errors import GatewayError
from tests.routing.fleet import backend, call


def picks(router: Router, n: int, model: str = "m", **kw) -> Counter:
    return Counter(router.choose(model, call(model, **kw), (), 0.0).backend.name for _ in range(n))


def test_round_robin_and_weighted_shares():
    fleet = [backend("a"), backend("b", weight=3.0)]
    assert picks(Router(fleet, RoutingConfig(strategy="round_robin")), 100) == {"a": 50, "b": 50}
    assert picks(Router(fleet, RoutingConfig(strategy="weighted")), 100) == {"a": 25, "b": 75}


def test_least_load_avoids_the_engine_with_a_queue():
    a, b, c = backend("a"), backend("b"), backend("c")
    b.state.engine, b.state.engine_at = EngineLoad(running=2, waiting=30), 0.0
    assert "b" not in picks(Router([a, b, c], RoutingConfig()), 30)


def test_least_load_spreads_ties():
    counts = picks(Router([backend("a"), backend("b"), backend("c")], RoutingConfig()), 30)
    assert counts == {"a": 10, "b": 10, "c": 10}


def test_latency_prefers_the_fastest_measured_backend():
    a, b = backend("a"), backend("b")
    a.state.note_ttft(0.5)
    b.state.note_ttft(0.1)
    assert picks(Router([a, b], RoutingConfig(strategy="latency")), 10) == {"b": 10}


def test_prefix_affinity_keeps_a_conversation_on_one_backend_and_spreads_many():
    router = Router([backend(n) for n in "abc"], RoutingConfig(strategy="prefix_affinity"))
    homes = Counter()
    for i in range(300):
        turns = [{"role": "system", "content": "persona"}, {"role": "user", "content": f"conversation {i}"}]
        first = router.choose("m", call(payload={"messages": turns}), (), 0.0).backend.name
        later = [*turns, {"role": "assistant", "content": "x"}, {"role": "user", "content": "more"}]
        assert router.choose("m", call(payload={"messages": later}), (), 0.0).backend.name == first
        homes[first] += 1
    assert max(homes.values()) <= 1.3 * 100


def test_bounded_load_spills_a_hot_key_over():
    fleet = [backend(n) for n in "abc"]
    router = Router(fleet, RoutingConfig(strategy="prefix_affinity"))
    hot = {"messages": [{"role": "user", "content": "same"}]}
    home = router.choose("m", call(payload=hot), (), 0.0).backend
    home.state.inflight = 10
    assert router.choose("m", call(payload=hot), (), 0.0).backend is not home


def test_cloud_only_when_no_local_backend_can_take_it_and_never_when_forbidden():
    local, cloud = backend("local", max_concurrency=1), backend("cloud", cloud=True)
    router = Router([local, cloud], RoutingConfig())
    assert router.choose("m", call(), (), 0.0).backend is local
    local.state.inflight = 1
    assert router.choose("m", call(), (), 0.0).backend is cloud
    assert router.choose("m", call(allow_cloud=False), (), 0.0) is None


def test_a_backend_gate_is_honoured_for_one_or_many_backends():
    a, b = backend("a"), backend("b", cloud=True)
    only_b = call()
    only_b.backend_allowed = lambda backend: backend.name == "b"
    assert Router([a, b], RoutingConfig()).choose("m", only_b, (), 0.0).backend is b
    none = call()
    none.backend_allowed = lambda backend: False
    assert Router([a], RoutingConfig()).choose("m", none, (), 0.0) is None


def test_unavailable_and_tried_backends_are_skipped():
    a, b = backend("a"), backend("b")
    router = Router([a, b], RoutingConfig())
    a.state.health.healthy = False
    assert picks(router, 5) == {"b": 5}
    assert router.choose("m", call(), {b}, 0.0) is None


def test_fallback_chain_and_unknown_model():
    fleet = [backend("a", ("big",)), backend("b", ("small",))]
    router = Router(fleet, RoutingConfig(models={"big": ModelRouting(fallbacks=("small",))}))
    assert router.chain("big") == ("big", "small")
    with pytest.raises(GatewayError):
        router.chain("nope")


EVENTS = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.sampled_from(["fail", "ok", "probe_fail", "probe_ok", "busy", "tick"]),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(EVENTS, st.booleans(), st.sets(st.integers(0, 3)))
def test_random_failures_never_route_to_an_unusable_backend_nor_drop_a_servable_call(
    events, allow_cloud, banned
):
    config = RoutingConfig()
    fleet = [backend(f"b{i}", cloud=(i == 3), max_concurrency=2) for i in range(4)]
    router = Router(fleet, config)
    now = 0.0
    for index, kind in events:
        state = fleet[index].state
        now += 0.5
        if kind in ("fail", "ok"):
            state.breaker.record(kind == "ok", now)
            state.outlier.record(kind == "ok", now)
        elif kind in ("probe_fail", "probe_ok"):
            state.health.record(kind == "probe_ok")
        elif kind == "busy":
            state.inflight = (state.inflight + 1) % 3
        usable = [
            b
            for i, b in enumerate(fleet)
            if b.state.available(now)
            and b.state.inflight < 2
            and (allow_cloud or not b.cloud)
            and i not in banned
        ]
        gated = call(allow_cloud=allow_cloud)
        gated.backend_allowed = lambda b: int(b.name[1:]) not in banned
        target = router.choose("m", gated, (), now)
        if not usable:
            assert target is None
            continue
        assert target is not None, "a backend could serve but none was chosen"
        assert target.backend in usable
        if any(not b.cloud for b in usable):
            assert not target.backend.cloud, "cloud used while local capacity was left"
