"""Config of data sovereignty: data classes and where each may go, PII redaction, the egress
allow-list, and model version pinning.

The block is off when it defines no classes: then no stage is added and requests cost
nothing extra. Checks that need the backends (a class allowed nowhere, a backend outside the
egress allow-list, a version nobody serves) live in `check_against_backends`, called by the
top-level `Config` validator so every problem is reported with its key path.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import InitErrorDetails

from comox.config.section import _Section, fail

RECOGNISERS = ("email", "phone", "iban", "credit_card", "ip", "us_ssn", "uk_nino", "fr_nir", "de_tax_id")
"""The built-in regex recognisers, by name (see comox/sovereignty/recognisers.py)."""


class ClassRule(_Section):
    """Where data of one class may go. Unset lists mean "any"; a backend must pass every rule."""

    level: int = Field(ge=0)
    """Sensitivity: when header, key default and content rules disagree, the highest level wins."""

    jurisdictions: tuple[str, ...] | None = None
    """Backend jurisdictions allowed (e.g. [EU, CA]); a backend without a jurisdiction label
    never matches a list. None: any jurisdiction."""
    operators: tuple[str, ...] | None = None
    """Backend operators allowed (`self` or a provider's name). None: any operator."""
    cloud: bool = True
    """Whether cloud-tier backends may see this class at all."""
    redact: Literal["never", "external", "always"] = "never"
    """PII is replaced by placeholders before the request goes to: no backend (never), backends
    not operated by `self` (external), or every backend (always)."""


class EgressRule(_Section):
    """Networks backends with given labels may live in; a backend must match one rule."""

    networks: tuple[str, ...] = Field(min_length=1)
    """CIDR blocks (10.0.0.0/8, fd00::/8) or host-name globs (*.eu-west-1.example.com). Host
    names are matched by name, never resolved at config time."""
    jurisdictions: tuple[str, ...] | None = None
    """Rule applies to backends of these jurisdictions; None: any."""
    operators: tuple[str, ...] | None = None
    """Rule applies to backends of these operators; None: any."""

    @field_validator("networks")
    @classmethod
    def _check_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if "/" in item:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise fail(f"invalid network {item!r}", "a CIDR block such as 10.0.0.0/8") from None
        return value


class RedactionConfig(_Section):
    recognisers: tuple[str, ...] = RECOGNISERS
    """Built-in recognisers to run, by name."""
    ner_model: str | None = None
    """An installed spaCy pipeline package (e.g. en_core_web_sm) adding PERSON, LOCATION and
    ORGANISATION; it is loaded from the installed package only, never downloaded. None: off."""

    @field_validator("recognisers")
    @classmethod
    def _check_recognisers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in RECOGNISERS:
                raise fail(f"unknown recogniser {name!r}", "some of " + ", ".join(RECOGNISERS))
        return value


class PinningConfig(_Section):
    """Model version pinning and weighted A/B splits between versions (public model names)."""

    versions: dict[str, dict[str, float]] = {}
    """Public model -> {version model: weight}; each caller (the `user` field, else the key)
    sticks to one version. Versions are public models served by backends."""
    tenants: dict[str, dict[str, str]] = {}
    """Tenant -> {model: version}: the tenant's requests for the model go to that version."""
    keys: dict[str, dict[str, str]] = {}
    """Key id -> {model: version}; wins over the tenant's pin and over the split."""

    @field_validator("versions")
    @classmethod
    def _check_weights(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for model, split in value.items():
            if not split or any(w < 0 for w in split.values()) or sum(split.values()) <= 0:
                raise fail(f"split of {model!r} has no positive weight", "{version: weight > 0, ...}")
        return value


class SovereigntyConfig(_Section):
    classes: dict[str, ClassRule] = {}
    """Data classes by name, each with its sensitivity `level` and its rule."""
    default_class: str | None = None
    """Class of a request that names none and whose key has no default; None: the most
    sensitive class (fail closed)."""
    pii_class: str | None = None
    """A request in which PII is detected is raised to at least this class; None: no content rule."""
    redaction: RedactionConfig = RedactionConfig()
    egress: tuple[EgressRule, ...] = ()
    """When set, every backend URL must lie in a network allowed for its labels."""
    pinning: PinningConfig = PinningConfig()

    @model_validator(mode="after")
    def _check_class_names(self) -> SovereigntyConfig:
        levels: dict[int, str] = {}
        for name, rule in self.classes.items():
            if rule.level in levels:
                raise fail(
                    f"classes {levels[rule.level]!r} and {name!r} have the same level {rule.level}",
                    "a distinct level per class (higher = more sensitive)",
                    show_got=False,
                )
            levels[rule.level] = name
        for field in ("default_class", "pii_class"):
            name = getattr(self, field)
            if name is not None and name not in self.classes:
                raise fail(
                    f"{field} {name!r} is not a defined class",
                    "one of " + (", ".join(self.classes) or "the classes under sovereignty.classes"),
                    show_got=False,
                )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.classes)

    def ordered(self) -> list[str]:
        """Class names from the least to the most sensitive."""
        return sorted(self.classes, key=lambda name: self.classes[name].level)

    def effective_default(self) -> str | None:
        return self.default_class or (self.ordered()[-1] if self.classes else None)


def host_allowed(host: str, networks: tuple[str, ...]) -> bool:
    """Is `host` (an IP literal or a name) inside one of `networks` (CIDRs or name globs)?"""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for item in networks:
        if "/" in item:
            if address is not None and address in ipaddress.ip_network(item, strict=False):
                return True
        elif fnmatchcase(host.lower(), item.lower()):
            return True
    return False


def _labels_match(rule: Any, jurisdiction: str | None, operator: str) -> bool:
    if rule.jurisdictions is not None and jurisdiction not in rule.jurisdictions:
        return False
    return rule.operators is None or operator in rule.operators


def check_against_backends(config: SovereigntyConfig, backends: tuple, public_models: Mapping) -> list:
    """Contradictions between the sovereignty block and the backends, as error details."""
    errors: list[InitErrorDetails] = []

    def error(loc: tuple, problem: str, expected: str) -> None:
        errors.append(InitErrorDetails(type=fail(problem, expected, show_got=False), loc=loc, input=None))

    for name, rule in config.classes.items():
        if not any(
            _labels_match(rule, b.jurisdiction, b.operator_label) and (rule.cloud or not b.is_cloud)
            for b in backends
        ):
            error(
                ("sovereignty", "classes", name),
                f"class {name!r} is allowed on no backend (labels: "
                + "; ".join(
                    f"{b.name}: {b.jurisdiction or '-'}, {b.operator_label}, "
                    f"{'cloud' if b.is_cloud else 'local'}"
                    for b in backends
                )
                + ")",
                "rules some backend satisfies, or a backend with matching jurisdiction/operator labels",
            )
    if config.egress:
        for i, b in enumerate(backends):
            rules = [r for r in config.egress if _labels_match(r, b.jurisdiction, b.operator_label)]
            if not any(host_allowed(b.host, r.networks) for r in rules):
                error(
                    ("backends", i, "url"),
                    f"backend {b.name!r} at host {b.host!r} is outside the egress networks allowed for "
                    f"jurisdiction {b.jurisdiction or '-'} and operator {b.operator_label}",
                    "a host inside a network listed under sovereignty.egress for these labels",
                )
    pins = config.pinning
    for model, split in pins.versions.items():
        for version in (model, *split):
            if version not in public_models:
                error(
                    ("sovereignty", "pinning", "versions", model),
                    f"model {version!r} is not served",
                    "public models served by some backend",
                )
    for scope, table in (("tenants", pins.tenants), ("keys", pins.keys)):
        for owner, mapping in table.items():
            for model, version in mapping.items():
                if version not in public_models:
                    error(
                        ("sovereignty", "pinning", scope, owner, model),
                        f"version {version!r} is not served",
                        "a public model served by some backend",
                    )
    return errors
