"""Several workers and replicas: one combined limit through Redis, keys and usage in
PostgreSQL, and revocation seen by every worker within a second."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from comox.testing.databases import REDIS_URL, database_url, redis_prefix
from comox.testing.keys import chat, cli, create_key, request, wait_until
from comox.testing.processes import backend, gateway_config, start_gateway, write_config


@pytest.fixture
def shared_config(engine, tmp_path):
    """A config whose keys live in a fresh PostgreSQL schema and counters under a fresh Redis prefix."""
    stores, prefixes = database_url("postgres", tmp_path, "limits"), redis_prefix("limits")
    config = gateway_config(backend(engine.url, ["test-model"]))
    config.update(store=next(stores), limits=REDIS_URL, tenancy={"redis_prefix": next(prefixes)})
    yield config, write_config(config, str(tmp_path))
    next(stores, None)  # drops the schema
    next(prefixes, None)  # deletes the prefix's keys


def test_two_gateways_sharing_redis_admit_exactly_one_combined_limit(spawn, shared_config):
    _, path = shared_config
    key = create_key(path, "acme", "--rpm", "60")
    gateways = [spawn(start_gateway, path) for _ in range(2)]
    for g in gateways:
        wait_until(lambda g=g: request(g.port, "GET", "/v1/models", key=key)[0] == 200)
    with ThreadPoolExecutor(64) as pool:
        statuses = list(pool.map(lambda i: chat(gateways[i % 2].port, key)[0], range(200)))
    assert statuses.count(200) == 60
    assert statuses.count(429) == 140
    served = {
        g.port: sum(1 for i, s in enumerate(statuses) if s == 200 and i % 2 == n)
        for n, g in enumerate(gateways)
    }
    assert all(served.values()), served  # both gateways took part


def test_revoking_a_key_stops_it_on_every_worker_within_a_second(spawn, shared_config, tmp_path):
    config, _ = shared_config
    config = {**config, "store": f"sqlite:///{tmp_path}/comox.db", "limits": "memory"}
    config["server"] = {**config["server"], "workers": 2}
    path = write_config(config, str(tmp_path))
    key = create_key(path, "acme")
    gateway = spawn(start_gateway, path)

    def all_answer(status: int, n: int = 16) -> bool:  # fresh connections spread over both workers
        return all(request(gateway.port, "GET", "/v1/models", key=key)[0] == status for _ in range(n))

    wait_until(lambda: all_answer(200), timeout=5)
    key_id = cli("keys", "list", "--config", path).splitlines()[1].split()[0]
    cli("keys", "revoke", key_id, "--config", path)
    revoked = time.monotonic()
    wait_until(lambda: all_answer(401), timeout=3, every=0.01)
    assert time.monotonic() - revoked < 1.0
    assert all_answer(401, 40)
