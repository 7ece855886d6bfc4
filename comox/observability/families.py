"""Metric families as plain data: what collectors produce, workers share, and scrapes render.

A family is a name, a type, a help line and samples keyed by label values. Several
workers' families merge by adding counters and histograms; a gauge says how it merges
(`sum` for things each worker holds, like requests in flight; `max` for views every
worker shares, like an engine's queue length scraped by each of them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from comox.observability.histogram import Histogram

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"


@dataclass(slots=True, eq=False)
class Family:
    name: str
    type: str
    help: str
    labels: tuple[str, ...] = ()
    merge: str = "sum"
    """How a gauge merges across workers: sum | max | min."""
    samples: dict[tuple[str, ...], float | Histogram] = field(default_factory=dict)

    def add(self, values: tuple[str, ...], value: float | Histogram) -> None:
        """Add a sample; a repeated label set adds up (several objects feeding one series)."""
        known = self.samples.get(values)
        if known is None:
            self.samples[values] = value if not isinstance(value, Histogram) else _copy(value)
        elif isinstance(known, Histogram):
            known.add(value)  # type: ignore[arg-type]
        else:
            self.samples[values] = known + value  # type: ignore[operator]

    def to_json(self) -> dict:
        samples = [
            [list(k), [v.counts, v.total, list(v.bounds)] if isinstance(v, Histogram) else v]
            for k, v in self.samples.items()
        ]
        return {
            "name": self.name,
            "type": self.type,
            "help": self.help,
            "labels": list(self.labels),
            "merge": self.merge,
            "samples": samples,
        }

    @classmethod
    def from_json(cls, data: dict) -> Family:
        family = cls(data["name"], data["type"], data["help"], tuple(data["labels"]), data["merge"])
        for key, value in data["samples"]:
            if isinstance(value, list):
                value = Histogram(tuple(value[2]), list(value[0]), value[1])
            family.samples[tuple(key)] = value
        return family


def _copy(h: Histogram) -> Histogram:
    return Histogram(h.bounds, list(h.counts), h.total)


def merge(groups: Iterable[Iterable[Family]]) -> list[Family]:
    """One list of families from several workers' lists, in first-seen order."""
    merged: dict[str, Family] = {}
    for families in groups:
        for family in families:
            into = merged.get(family.name)
            if into is None:
                into = merged[family.name] = Family(
                    family.name, family.type, family.help, family.labels, family.merge
                )
            for values, value in family.samples.items():
                if family.type == GAUGE and family.merge != "sum" and values in into.samples:
                    pick = max if family.merge == "max" else min
                    into.samples[values] = pick(into.samples[values], value)  # type: ignore[type-var]
                else:
                    into.add(values, value)
    return list(merged.values())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if isinstance(value, int) or (math.isfinite(value) and value == int(value) and abs(value) < 1e15):
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render(families: Iterable[Family]) -> bytes:
    """The Prometheus text exposition format (version 0.0.4)."""
    out: list[str] = []
    for f in families:
        out.append(f"# HELP {f.name} {f.help}")
        out.append(f"# TYPE {f.name} {f.type}")
        for values, value in sorted(f.samples.items()):
            if isinstance(value, Histogram):
                cumulative = 0
                for bound, n in zip((*value.bounds, math.inf), value.counts, strict=True):
                    cumulative += n
                    le = 'le="' + ("+Inf" if bound == math.inf else _number(bound)) + '"'
                    out.append(f"{f.name}_bucket{_labels(f.labels, values, le)} {cumulative}")
                out.append(f"{f.name}_sum{_labels(f.labels, values)} {_number(value.total)}")
                out.append(f"{f.name}_count{_labels(f.labels, values)} {cumulative}")
            else:
                out.append(f"{f.name}{_labels(f.labels, values)} {_number(value)}")
    out.append("")
    return "\n".join(out).encode()
