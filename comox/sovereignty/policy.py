"""Residency policy: may data of a class go to a backend, and must its PII be redacted first?

`decide` is the whole rule, a pure function of a class rule and a backend's labels.
`Policy` holds the classes in order (highest wins) and answers for backends by name; the
stage precomputes its answers per (class, model) so a request pays one dict lookup.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from comox.config.sovereignty import ClassRule, SovereigntyConfig


@dataclass(frozen=True, slots=True)
class Labels:
    """What residency policy knows about one backend."""

    name: str
    jurisdiction: str | None
    region: str | None
    operator: str
    cloud: bool

    @classmethod
    def of(cls, backend_config) -> Labels:
        b = backend_config
        return cls(b.name, b.jurisdiction, b.region, b.operator_label, b.is_cloud)

    def describe(self) -> str:
        tier = "cloud" if self.cloud else "local"
        region = f", {self.region}" if self.region else ""
        return f"{self.name} ({self.jurisdiction or 'no jurisdiction'}{region}, operator {self.operator}, {tier})"


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    redact: bool
    reason: str = ""
    """Why not, in the words of the rule; empty when allowed."""


def decide(rule: ClassRule, labels: Labels) -> Verdict:
    """The residency decision for one class rule and one backend."""
    if labels.cloud and not rule.cloud:
        return Verdict(False, False, "cloud backends are not allowed")
    if rule.jurisdictions is not None and labels.jurisdiction not in rule.jurisdictions:
        return Verdict(False, False, f"jurisdiction must be one of {', '.join(rule.jurisdictions)}")
    if rule.operators is not None and labels.operator not in rule.operators:
        return Verdict(False, False, f"operator must be one of {', '.join(rule.operators)}")
    redact = rule.redact == "always" or (rule.redact == "external" and labels.operator != "self")
    return Verdict(True, redact)


def describe_rule(rule: ClassRule) -> str:
    """The rule in one phrase, for error messages and the data-flow report."""
    parts = [
        "jurisdictions " + (", ".join(rule.jurisdictions) if rule.jurisdictions is not None else "any"),
        "operators " + (", ".join(rule.operators) if rule.operators is not None else "any"),
        "cloud allowed" if rule.cloud else "no cloud",
        {
            "never": "no redaction",
            "external": "PII redacted before backends not operated by self",
            "always": "PII redacted before every backend",
        }[rule.redact],
    ]
    return "; ".join(parts)


class UnknownClass(LookupError):
    pass


class Policy:
    def __init__(self, config: SovereigntyConfig, labels: Iterable[Labels]) -> None:
        self.config = config
        self.rules = {name: config.classes[name] for name in config.ordered()}
        self.rank = {name: i for i, name in enumerate(self.rules)}
        self.default_class = config.effective_default()
        self.pii_class = config.pii_class
        self.labels = {label.name: label for label in labels}

    @classmethod
    def from_config(cls, config) -> Policy:
        return cls(config.sovereignty, [Labels.of(b) for b in config.backends])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.rules)

    def check(self, name: str) -> str:
        if name not in self.rules:
            raise UnknownClass(name)
        return name

    def highest(self, *names: str | None) -> str | None:
        """The most sensitive of the given classes (None entries ignored)."""
        present = [n for n in names if n is not None]
        return max(present, key=self.rank.__getitem__) if present else None

    def verdict(self, class_name: str, backend: str) -> Verdict:
        return decide(self.rules[class_name], self.labels[backend])

    def describe(self, class_name: str) -> str:
        return describe_rule(self.rules[class_name])
