"""A labelled fleet and a policy without sockets, for stage and property tests."""

from __future__ import annotations

from comox.config.routing import ModelRouting, RoutingConfig
from comox.config.sovereignty import SovereigntyConfig
from comox.routing.router import Router
from comox.sovereignty.policy import Labels, Policy
from comox.sovereignty.recognisers import BUILTIN
from comox.sovereignty.redaction import Redactor
from comox.sovereignty.stage import SovereigntyStage
from tests.routing.fleet import backend

CLASSES = {
    "public": {"level": 0},
    "internal": {"level": 1, "cloud": False},
    "personal": {"level": 2, "jurisdictions": ["EU", "CA"], "redact": "external"},
    "restricted": {"level": 3, "jurisdictions": ["EU"], "operators": ["self"], "cloud": False},
}
ROUTING = RoutingConfig(models={"m1": ModelRouting(fallbacks=("m2",))})


def policy_config(**extra) -> SovereigntyConfig:
    return SovereigntyConfig.model_validate(
        {"classes": CLASSES, "default_class": "internal", "pii_class": "personal", **extra}
    )


def labelled(specs: list[tuple[str, str | None, str, bool, tuple[str, ...]]]):
    """(name, jurisdiction, operator, cloud, models) -> backends and their labels."""
    backends = [backend(name, models, cloud=cloud, config=ROUTING) for name, _, _, cloud, models in specs]
    labels = [Labels(name, j, None, op, cloud) for name, j, op, cloud, _ in specs]
    return backends, labels


def stage_for(specs, config: SovereigntyConfig | None = None) -> tuple[SovereigntyStage, Router, Policy]:
    backends, labels = labelled(specs)
    router = Router(backends, ROUTING)
    policy = Policy(config or policy_config(), labels)
    return SovereigntyStage(policy, router, Redactor(list(BUILTIN.values()))), router, policy
