"""Read a gateway's /metrics page into plain numbers, for tests and benchmarks.

Parsed with prometheus-client's own parser when it is installed (so the page is checked
against the reference implementation of the format), else with a small line reader.
"""

from __future__ import annotations

import urllib.request


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, frozenset of label pairs) -> value."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    from prometheus_client.parser import text_string_to_metric_families

    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def total(samples: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    """Sum of `name` over the samples whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)
