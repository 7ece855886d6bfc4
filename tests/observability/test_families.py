"""Metric families: histograms, merging across workers, and the text format (checked with
prometheus-client's parser, the reference reader of the format)."""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from comox.observability.families import COUNTER, GAUGE, HISTOGRAM, Family, merge, render
from comox.observability.histogram import Histogram


def test_histogram_buckets_are_upper_bounds_inclusive_and_merge_by_adding():
    h = Histogram((0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(v)
    assert h.counts == [2, 1, 1] and h.count == 4 and math.isclose(h.total, 3.65)
    other = Histogram((0.1, 1.0))
    other.observe(0.2)
    h.add(other)
    assert h.counts == [2, 2, 1]


def _worker(requests: int, inflight: int, queue: float, latency: float) -> list[Family]:
    c = Family("comox_requests_total", COUNTER, "Requests.", ("code",))
    c.add(("200",), requests)
    g = Family("comox_inflight_requests", GAUGE, "In flight.")
    g.add((), inflight)
    q = Family("comox_engine_waiting_requests", GAUGE, "Queue.", ("backend",), "max")
    q.add(("a",), queue)
    h = Family("comox_request_duration_seconds", HISTOGRAM, "Duration.", ("model",))
    hist = Histogram((0.5, 1.0))
    hist.observe(latency)
    h.add(("m",), hist)
    return [c, g, q, h]


def test_workers_merge_counters_and_histograms_by_sum_and_gauges_by_their_rule():
    one = _worker(3, 1, 4.0, 0.2)
    two = [Family.from_json(f.to_json()) for f in _worker(5, 2, 7.0, 0.7)]  # as read from a file
    families = {f.name: f for f in merge([one, two])}
    assert families["comox_requests_total"].samples[("200",)] == 8
    assert families["comox_inflight_requests"].samples[()] == 3
    assert families["comox_engine_waiting_requests"].samples[("a",)] == 7.0
    assert families["comox_request_duration_seconds"].samples[("m",)].counts == [1, 1, 0]
    assert one[0].samples[("200",)] == 3  # inputs are left alone


def test_rendered_text_parses_with_the_reference_parser():
    families = _worker(3, 1, 4.0, 0.2)
    families[0].add(('we"ird\\label\n',), 1)
    text = render(families).decode()
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    assert parsed["comox_requests"].type == "counter"
    assert {
        s.labels["code"]: s.value for s in parsed["comox_requests"].samples if s.name.endswith("_total")
    } == {
        "200": 3.0,
        'we"ird\\label\n': 1.0,
    }
    hist = {(s.name, s.labels.get("le")): s.value for s in parsed["comox_request_duration_seconds"].samples}
    assert hist[("comox_request_duration_seconds_bucket", "0.5")] == 1
    assert hist[("comox_request_duration_seconds_bucket", "+Inf")] == 1
    assert hist[("comox_request_duration_seconds_count", None)] == 1
    assert math.isclose(hist[("comox_request_duration_seconds_sum", None)], 0.2)
