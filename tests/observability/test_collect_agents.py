from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families

from comox.agents.jobs import JobStats
from comox.agents.stage import StageStats
from comox.observability.collect import agents_families
from comox.observability.families import render


def test_agent_counters_are_exported_and_parse():
    stage = StageStats(calls=7, stored=6, memories_used=3, assembly_seconds=0.25)
    jobs = JobStats(queued=9, done=7, failed=1, dropped=1, extracted_facts=4, summaries=2)
    agents = SimpleNamespace(stage=SimpleNamespace(stats=stage), queue=SimpleNamespace(stats=jobs))
    parsed = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(render(agents_families(agents)).decode())
        for s in family.samples
    }
    assert parsed[("comox_agent_calls_total", ())] == 7
    assert parsed[("comox_agent_jobs_total", (("outcome", "dropped"),))] == 1
    assert parsed[("comox_agent_memories_total", (("kind", "fact"),))] == 4
    assert agents_families(None) == []
