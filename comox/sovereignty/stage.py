"""The sovereignty stage: classify a call, gate its backends, redact its PII when needed.

Class, highest wins: the `x-comox-data-class` header, the key's default, and the content
rule (PII found raises the call to `pii_class`); with neither header nor key default, the
configured default class. Unknown names are errors, never defaults.

Redaction depends on the backend, which the router picks later, so the choice is made for
the whole call: if ANY backend this call may reach (the model and its fallbacks) requires
redaction for its class, the payload is redacted for every attempt (docs/decisions.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from comox.api.call import Call
from comox.routing.router import Router
from comox.server.errors import GatewayError, bad_request
from comox.server.wire import header_line
from comox.sovereignty.policy import Policy
from comox.sovereignty.redaction import Redactor, redact_payload, texts
from comox.sovereignty.restore import RestoreFilter

HEADER = b"x-comox-data-class"


@dataclass(frozen=True, slots=True)
class Gate:
    """What one class may do with one model (and its fallbacks): precomputed at startup."""

    allowed: frozenset
    """Backend objects the class may reach."""
    redact: bool
    """Some reachable backend requires redaction: redact for every attempt."""
    rule: str
    """The class's rule in words."""
    note: str
    """The rule and the allowed backends, for refusals."""
    header: bytes
    """The `x-comox-data-class` response header line, rendered once."""
    admits: Callable[[Any], bool] | None = None
    """`allowed.__contains__`, bound once: the router's backend gate."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "admits", self.allowed.__contains__)  # frozen: set once, here


@dataclass(slots=True)
class SovereigntyStats:
    classified: dict[str, int]
    raised_by_pii: int = 0
    refused_unknown_class: int = 0
    refused_by_policy: int = 0
    redacted: int = 0


def build_gates(policy: Policy, router: Router) -> dict[tuple[str, str], Gate]:
    gates: dict[tuple[str, str], Gate] = {}
    for model in router.table.names:
        reachable = [t.backend for m in router.chain(model) for t in router.table.targets(m)]
        for name in policy.names:
            allowed = [b for b in reachable if policy.verdict(name, b.name).allowed]
            redact = any(policy.verdict(name, b.name).redact for b in allowed)
            shown = ", ".join(dict.fromkeys(b.name for b in allowed)) or "none"
            note = f"data class '{name}' ({policy.describe(name)}) may only use: {shown}"
            gates[(name, model)] = Gate(
                frozenset(allowed),
                redact,
                policy.describe(name),
                note,
                header_line(b"x-comox-data-class", name.encode()),
            )
    return gates


class SovereigntyStage:
    def __init__(
        self, policy: Policy, router: Router, redactor: Redactor, offload: Executor | None = None
    ) -> None:
        self.policy = policy
        self.router = router
        self.redactor = redactor
        self.offload = offload
        """Where scanning runs when a recogniser is slow (a model); None: on the loop (regexes)."""
        self.gates = build_gates(policy, router)
        default, pii = policy.default_class, policy.pii_class
        plain = pii is None or policy.rank[pii] <= policy.rank[default]
        self.plain: dict[str, Gate] = {
            model: gate
            for (name, model), gate in self.gates.items()
            if name == default and plain and gate.allowed and not gate.redact
        }
        """Per model, the default class's gate when a call of that class needs nothing but the
        gate: no PII rule above it, nothing to redact, somewhere to go (the common case)."""
        self.stats = SovereigntyStats(classified=dict.fromkeys(policy.names, 0))

    def classify_base(self, call: Call) -> str:
        """The class from header and key default (highest wins), else the default class."""
        policy = self.policy
        raw = call.request.headers.get(HEADER)
        asked = None
        if raw is not None:
            asked = raw.decode("latin-1").strip()
            if asked not in policy.rules:
                self.stats.refused_unknown_class += 1
                raise bad_request(
                    f"Unknown data class '{asked}' in {HEADER.decode()}; known classes: "
                    f"{', '.join(policy.names)}.",
                    param=HEADER.decode(),
                    code="unknown_data_class",
                )
        key_default = call.data_class
        if key_default is not None and key_default not in policy.rules:
            self.stats.refused_unknown_class += 1
            raise GatewayError(
                403,
                f"This API key's default data class '{key_default}' is not defined by the gateway's "
                f"policy (known: {', '.join(policy.names)}); ask your administrator to fix the key.",
                code="unknown_data_class",
            )
        return policy.highest(asked, key_default) or policy.default_class

    def admit(self, call: Call) -> None:
        policy = self.policy
        if call.data_class is None and HEADER not in call.request.headers:
            gate = self.plain.get(call.model)
            if gate is not None:  # the common case: one lookup, the gate set, nothing else
                return self._apply(call, policy.default_class, gate, None)
            name = policy.default_class
        else:
            name = self.classify_base(call)
        gate = self.gates.get((name, call.model))
        if gate is None:
            self.router.chain(call.model)  # the 404 that lists the models
        pii = policy.pii_class
        raise_to_pii = pii is not None and policy.rank[pii] > policy.rank[name]
        if not (gate.redact or raise_to_pii):
            return self._apply(call, name, gate, None)
        if self.offload is not None:  # a model recogniser: milliseconds of CPU, not on the loop
            return self._scan_offloaded(call, name, gate, raise_to_pii)
        return self._decide(call, name, gate, raise_to_pii, self._scan(call, gate, raise_to_pii))

    def _scan(self, call: Call, gate: Gate, raise_to_pii: bool) -> tuple[bool, Any]:
        """Whether the prompt holds PII, and the redaction (payload and mapping) when one is due."""
        pii_gate = self.gates[(self.policy.pii_class, call.model)] if raise_to_pii else None
        if not gate.redact and pii_gate is not None and not pii_gate.redact:
            return self.redactor.contains_pii(texts(call.api, call.payload)), None
        redacted, redaction = redact_payload(self.redactor, call.api, call.payload)
        return bool(redaction.restore_map), (redacted, redaction)

    async def _scan_offloaded(self, call: Call, name: str, gate: Gate, raise_to_pii: bool) -> None:
        loop = asyncio.get_running_loop()
        scanned = await loop.run_in_executor(self.offload, self._scan, call, gate, raise_to_pii)
        self._decide(call, name, gate, raise_to_pii, scanned)

    def _decide(
        self, call: Call, name: str, gate: Gate, raise_to_pii: bool, scanned: tuple[bool, Any]
    ) -> None:
        found, redaction = scanned
        if raise_to_pii and found:
            self.stats.raised_by_pii += 1
            name = self.policy.pii_class
            gate = self.gates[(name, call.model)]
        self._apply(call, name, gate, redaction)

    def _apply(self, call: Call, name: str, gate: Gate, redaction: Any) -> None:
        """Record the class, refuse when it may go nowhere, else gate the backends and swap in
        the redacted payload when the gate requires it and PII was found."""
        call.data_class = name
        self.stats.classified[name] += 1
        if not gate.allowed:
            self.stats.refused_by_policy += 1
            raise GatewayError(
                403,
                f"Refused by residency policy: data class '{name}' ({gate.rule}) "
                f"is allowed on no backend serving '{call.model}'"
                + (" or its fallbacks" if len(self.router.chain(call.model)) > 1 else "")
                + ". Nothing was sent to any backend.",
                code="data_class_forbidden",
            )
        call.backend_allowed = gate.admits
        call.gate_note = gate.note
        call.response_headers += gate.header
        if gate.redact and redaction is not None and redaction[1].restore_map:
            redacted, mapping = redaction
            self.stats.redacted += 1
            call.payload = redacted
            call.payload_changed = True
            call.answer_filter = RestoreFilter(mapping)
            call.response_headers += b"x-comox-redacted: %d\r\n" % len(mapping.restore_map)
