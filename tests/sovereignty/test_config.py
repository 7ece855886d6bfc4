import pytest
import yaml

from comox.config import ConfigError, parse_config

BACKENDS = [
    {
        "name": "gpu-eu",
        "url": "http://10.0.0.5:8000",
        "engine": "vllm",
        "models": ["m"],
        "jurisdiction": "EU",
    },
    {
        "name": "openai",
        "url": "https://api.openai.com",
        "engine": "openai",
        "models": ["m"],
        "jurisdiction": "US",
    },
]


def parse(sovereignty: dict, backends=BACKENDS):
    return parse_config(yaml.safe_dump({"backends": backends, "sovereignty": sovereignty}), "gw.yaml")


def problems(sovereignty: dict, backends=BACKENDS) -> str:
    with pytest.raises(ConfigError) as err:
        parse(sovereignty, backends)
    return str(err.value)


def test_a_valid_policy_loads_and_labels_default_sensibly():
    config = parse(
        {
            "classes": {
                "public": {"level": 0},
                "personal": {"level": 1, "jurisdictions": ["EU"], "redact": "external"},
            }
        }
    )
    assert [b.operator_label for b in config.backends] == ["self", "openai"]
    assert config.sovereignty.effective_default() == "personal"  # fail closed: the most sensitive


def test_a_class_allowed_nowhere_is_a_config_error():
    report = problems({"classes": {"secret": {"level": 3, "jurisdictions": ["CA"]}}})
    assert "sovereignty.classes.secret: class 'secret' is allowed on no backend" in report
    assert "gpu-eu: EU, self, local" in report


def test_a_cloud_backend_labelled_operator_self_is_a_config_error():
    backends = [{**BACKENDS[1], "operator": "self"}]
    assert "backends[0]: a cloud backend cannot be operated by 'self'" in problems({}, backends)


def test_unknown_class_names_and_recognisers_are_errors():
    report = problems({"classes": {"a": {"level": 1}}, "default_class": "b"})
    assert "default_class 'b' is not a defined class; expected one of a" in report
    assert "unknown recogniser 'dna'" in problems({"redaction": {"recognisers": ["dna"]}})
    report = problems({"classes": {"a": {"level": 1}, "b": {"level": 1}}})
    assert "classes 'a' and 'b' have the same level 1" in report


def test_a_backend_outside_the_egress_networks_for_its_labels_is_an_error():
    egress = [{"networks": ["10.0.0.0/8"], "jurisdictions": ["EU"]}, {"networks": ["*.azure.com"]}]
    report = problems({"classes": {"a": {"level": 0}}, "egress": egress})
    assert "backends[1].url: backend 'openai' at host 'api.openai.com' is outside the egress" in report
    assert "gpu-eu" not in report
    parse(
        {
            "classes": {"a": {"level": 0}},
            "egress": [*egress, {"networks": ["api.openai.com"], "operators": ["openai"]}],
        }
    )


def test_pins_and_splits_must_name_served_models():
    report = problems({"pinning": {"versions": {"m": {"m@2": 1}}, "tenants": {"acme": {"m": "m@3"}}}})
    assert "model 'm@2' is not served" in report and "version 'm@3' is not served" in report
