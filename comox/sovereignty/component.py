"""Sovereignty of one worker, assembled from the config: its stages and its report.

Nothing is added to the request path when the config defines no classes and no pinning.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from comox.routing.router import Router
from comox.sovereignty.explain import report
from comox.sovereignty.pinning import PinningStage
from comox.sovereignty.policy import Policy
from comox.sovereignty.recognisers import BUILTIN, NerRecogniser
from comox.sovereignty.redaction import Redactor
from comox.sovereignty.stage import SovereigntyStage


def build_redactor(redaction_config) -> Redactor:
    recognisers: list = [BUILTIN[name] for name in redaction_config.recognisers]
    if redaction_config.ner_model:
        recognisers.append(NerRecogniser.load(redaction_config.ner_model))
    return Redactor(recognisers)


class Sovereignty:
    def __init__(self, config, router: Router) -> None:
        s = config.sovereignty
        self.report = report(config)
        stages: list = []
        self.pinning = self.residency = None
        p = s.pinning
        if p.versions or p.tenants or p.keys:
            self.pinning = PinningStage(p)
            stages.append(self.pinning)
        self.offload: ThreadPoolExecutor | None = None
        if s.enabled:
            if s.redaction.ner_model:  # one thread: the model's CPU time stays off the event loop
                self.offload = ThreadPoolExecutor(1, thread_name_prefix="comox-ner")
            redactor = build_redactor(s.redaction)
            self.residency = SovereigntyStage(Policy.from_config(config), router, redactor, self.offload)
            stages.append(self.residency)
        self.stages = tuple(stages)

    def close(self) -> None:
        if self.offload is not None:
            self.offload.shutdown(wait=False, cancel_futures=True)
