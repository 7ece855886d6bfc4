"""Tests for comox.config: YAML -> interpolation -> frozen models, and the error report."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from comox.config import (
    BackendConfig,
    Config,
    ConfigError,
    ServerConfig,
    UpstreamConfig,
    load_config,
    parse_config,
)

MINIMAL = """\
backends:
  - name: gpu-a
    url: http://127.0.0.1:8100
    engine: vllm
    models: [llama-3-8b]
"""


def backend_yaml(**fields: str) -> str:
    """A one-backend config whose backend keys are MINIMAL's, overridden by ``fields``."""
    values = {"name": "gpu-a", "url": "http://127.0.0.1:8100", "engine": "vllm", "models": "[llama-3-8b]"}
    values.update(fields)
    lines = [f"    {key}: {value}" for key, value in values.items()]
    lines[0] = "  - " + lines[0].lstrip()
    return "backends:\n" + "\n".join(lines) + "\n"


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "gw.yaml", env=env or {})
    assert str(info.value) == "\n".join(info.value.problems)
    return list(info.value.problems)


# --- valid configs ------------------------------------------------------------------------------


def test_minimal_config_gets_safe_defaults() -> None:
    config = parse_config(MINIMAL, env={})
    assert config.server == ServerConfig()
    assert (config.server.host, config.server.port, config.server.workers) == ("127.0.0.1", 8080, 1)
    assert config.server.max_body_bytes == 8 * 1024 * 1024
    assert config.server.max_header_bytes == 65536
    assert (config.server.header_timeout, config.server.drain_timeout) == (10.0, 30.0)
    assert config.upstream == UpstreamConfig()
    assert (config.upstream.connect_timeout, config.upstream.read_timeout) == (5.0, 600.0)
    assert config.upstream.max_idle_connections == 256
    (backend,) = config.backends
    assert (backend.name, backend.engine, backend.api_key, backend.api_key_value) == (
        "gpu-a",
        "vllm",
        None,
        None,
    )


def test_backend_url_parts_are_derived_and_trailing_slash_stripped() -> None:
    plain = parse_config(MINIMAL, env={}).backends[0]
    assert (plain.scheme, plain.host, plain.port, plain.base_path, plain.use_tls) == (
        "http",
        "127.0.0.1",
        8100,
        "",
        False,
    )
    tls = parse_config(backend_yaml(url="HTTPS://api.example.com/proxy/"), env={}).backends[0]
    assert tls.url == "https://api.example.com/proxy"
    assert (tls.scheme, tls.host, tls.port, tls.base_path, tls.use_tls) == (
        "https",
        "api.example.com",
        443,
        "/proxy",
        True,
    )
    ipv6 = parse_config(backend_yaml(url="http://[::1]:9000"), env={}).backends[0]
    assert (ipv6.host, ipv6.port, ipv6.host_header) == ("::1", 9000, "[::1]:9000")


def test_models_list_maps_each_name_to_itself() -> None:
    backend = parse_config(backend_yaml(models="[a, b]"), env={}).backends[0]
    assert dict(backend.models) == {"a": "a", "b": "b"}


def test_models_mapping_maps_public_name_to_engine_name() -> None:
    text = backend_yaml(models="{llama-3-8b: meta-llama/Meta-Llama-3-8B-Instruct}")
    backend = parse_config(text, env={}).backends[0]
    assert dict(backend.models) == {"llama-3-8b": "meta-llama/Meta-Llama-3-8B-Instruct"}


def test_models_mapping_is_read_only() -> None:
    backend = parse_config(MINIMAL, env={}).backends[0]
    with pytest.raises(TypeError):
        backend.models["x"] = "y"  # type: ignore[index]


def test_config_is_frozen() -> None:
    config = parse_config(MINIMAL, env={})
    with pytest.raises(ValidationError):
        config.server.port = 1  # type: ignore[misc]


def test_public_models_are_sorted_and_unique_across_backends_sharing_a_model() -> None:
    text = MINIMAL + (
        "  - name: gpu-b\n    url: http://127.0.0.1:8200\n    engine: sglang\n    models: [llama-3-8b, qwen]\n"
    )
    config = parse_config(text, env={})
    assert config.public_models() == ["llama-3-8b", "qwen"]


def test_backend_timeouts_fall_back_to_upstream_defaults() -> None:
    text = "upstream: {connect_timeout: 2, read_timeout: 30}\n" + backend_yaml(read_timeout="120")
    config = parse_config(text, env={})
    backend = config.backends[0]
    assert backend.effective_connect_timeout(config.upstream) == 2.0
    assert backend.effective_read_timeout(config.upstream) == 120.0


def test_empty_section_means_defaults() -> None:
    config = parse_config("server:\nupstream:\n" + MINIMAL, env={})
    assert config.server == ServerConfig()


def test_empty_api_key_means_no_key() -> None:
    backend = parse_config(backend_yaml(api_key="${KEY:-}"), env={}).backends[0]
    assert backend.api_key_value is None


# --- ${VAR} interpolation -----------------------------------------------------------------------


def test_env_variable_is_substituted() -> None:
    backend = parse_config(backend_yaml(api_key="${GPU_A_KEY}"), env={"GPU_A_KEY": "sk-123"}).backends[0]
    assert backend.api_key_value == "sk-123"


def test_unset_env_variable_is_an_error_naming_variable_and_key_path() -> None:
    (line,) = problems(backend_yaml(api_key="${GPU_A_KEY}"))
    assert line.startswith("gw.yaml: backends[0].api_key: environment variable GPU_A_KEY is not set")
    assert "${GPU_A_KEY:-" in line


def test_env_default_is_used_when_unset_or_empty() -> None:
    text = "server: {host: '${HOST:-0.0.0.0}'}\n" + MINIMAL
    assert parse_config(text, env={}).server.host == "0.0.0.0"
    assert parse_config(text, env={"HOST": ""}).server.host == "0.0.0.0"
    assert parse_config(text, env={"HOST": "10.0.0.1"}).server.host == "10.0.0.1"


def test_double_dollar_escapes_a_literal_reference() -> None:
    text = backend_yaml(models="['$${NOT_A_VAR}', 'a-${X}-b']")
    backend = parse_config(text, env={"X": "1"}).backends[0]
    assert list(backend.models) == ["${NOT_A_VAR}", "a-1-b"]


def test_unset_variable_in_a_valid_key_is_reported_once_and_in_an_unknown_key_twice() -> None:
    assert len(problems("server: {port: '${PORT}'}\n" + MINIMAL)) == 1
    lines = problems("server: {prot: '${PORT}'}\n" + MINIMAL)
    assert len(lines) == 2
    assert lines[0].startswith("gw.yaml: server.prot: environment variable PORT is not set;")
    assert lines[1].startswith("gw.yaml: server.prot: unexpected key 'prot' (did you mean 'port'?);")


def test_env_value_is_coerced_to_int_and_float() -> None:
    text = "server: {port: '${PORT}', header_timeout: '${HT:-2.5}'}\n" + MINIMAL
    server = parse_config(text, env={"PORT": "9000"}).server
    assert (server.port, server.header_timeout) == (9000, 2.5)


def test_env_is_not_applied_to_keys() -> None:
    (line,) = problems("server: {'${K}': 1}\n" + MINIMAL, env={"K": "port"})
    assert "unexpected key '${K}'" in line


def test_malformed_reference_is_reported() -> None:
    assert problems(backend_yaml(name="'${1BAD}'")) == [
        "gw.yaml: backends[0].name: invalid variable reference '${1BAD}'; "
        "expected ${NAME} or ${NAME:-default}, and $${ for a literal ${"
    ]
    assert "unclosed '${'" in problems(backend_yaml(name="'a${B'"))[0]


def test_os_environ_is_the_default_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMOX_TEST_PORT", "8181")
    assert parse_config("server: {port: '${COMOX_TEST_PORT}'}\n" + MINIMAL).server.port == 8181


# --- errors -------------------------------------------------------------------------------------


def test_unknown_key_suggests_the_close_one() -> None:
    (line,) = problems("server: {prot: 80}\n" + MINIMAL)
    assert line.startswith(
        "gw.yaml: server.prot: unexpected key 'prot' (did you mean 'port'?); expected one of "
    )
    assert "host, port, workers" in line


def test_unknown_engine_lists_the_known_ones() -> None:
    assert problems(backend_yaml(engine="vlm")) == [
        "gw.yaml: backends[0].engine: unknown engine 'vlm'; "
        "expected one of vllm, sglang, llamacpp, llama-cpp-python, tgi, ollama, openai, anthropic"
    ]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://127.0.0.1", "unsupported scheme 'ftp'"),
        ("127.0.0.1:8100", "not a URL with a scheme"),
        ("http://h:8100/?x=1", "url has a query or fragment"),
        ("http://h:99999", "invalid port"),
    ],
)
def test_bad_url_is_rejected(url: str, problem: str) -> None:
    (line,) = problems(backend_yaml(url=url))
    assert line.startswith(f"gw.yaml: backends[0].url: {problem}")
    assert "expected" in line


def test_url_written_with_v1_like_an_sdk_base_url_is_accepted() -> None:
    config = parse_config(backend_yaml(url="https://api.example.com/v1/"), source="gw.yaml")
    assert config.backends[0].url == "https://api.example.com"
    assert config.backends[0].base_path == ""


def test_out_of_range_number_says_the_limit() -> None:
    assert problems("server: {port: 70000}\n" + MINIMAL) == [
        "gw.yaml: server.port: out of range (got 70000); expected an integer <= 65535"
    ]


def test_yaml_boolean_is_not_taken_as_a_number() -> None:
    (line,) = problems("server: {workers: yes}\n" + MINIMAL)
    assert line.startswith("gw.yaml: server.workers: a boolean is not a number (got true)")


def test_unquoted_numeric_model_name_is_an_error() -> None:
    (line,) = problems(backend_yaml(models="[3.1]"))
    assert "model name 3.1 is not a non-empty string" in line


def test_duplicate_backend_names_are_an_error() -> None:
    text = MINIMAL + "  - name: gpu-a\n    url: http://127.0.0.1:8200\n    engine: vllm\n    models: [m]\n"
    assert problems(text) == [
        "gw.yaml: backends[1].name: duplicate backend name 'gpu-a', also used by backends[0]; "
        "expected a unique name for each backend"
    ]


def test_missing_backends_says_what_to_add() -> None:
    (line,) = problems("server: {port: 8080}\n")
    assert line.startswith(
        "gw.yaml: backends: missing required key; expected a list of backends, e.g. backends:"
    )
    (line,) = problems("backends: []\n")
    assert line.startswith("gw.yaml: backends: no backends configured; expected at least one backend")


def test_empty_file_says_what_to_add() -> None:
    for text in ("", "# only a comment\n"):
        (line,) = problems(text)
        assert line.startswith(
            "gw.yaml: the configuration is empty; expected at least one backend, e.g. backends:"
        )


def test_missing_required_backend_keys() -> None:
    lines = problems("backends:\n  - name: gpu-a\n")
    assert [line.split(": ")[1] for line in lines] == [
        "backends[0].url",
        "backends[0].engine",
        "backends[0].models",
    ]
    assert all("missing required key; expected" in line for line in lines)


def test_top_level_must_be_a_mapping() -> None:
    (line,) = problems("- a\n- b\n")
    assert line == (
        "gw.yaml: the top level is not a mapping (got a list); expected a mapping with keys "
        "server, upstream, routing, backends, store, limits, admin_key, tenancy, audit, sovereignty, observability, "
        "cache, agents"
    )


def test_yaml_syntax_error_reports_line_and_column() -> None:
    (line,) = problems("server:\n  port: 8080\n   host: x\n" + MINIMAL)  # host indented one too far
    assert line == "gw.yaml:3:8: invalid YAML: mapping values are not allowed here"
    (line,) = problems("server:\n\tport: 8080\n" + MINIMAL)
    assert line == "gw.yaml:2:1: invalid YAML: found character '\\t' that cannot start any token"


def test_duplicate_yaml_key_is_an_error() -> None:
    (line,) = problems("server: {port: 1}\n" + MINIMAL + "server: {port: 2}\n")
    assert line == "gw.yaml:7:1: duplicate key 'server' (first on line 1); expected each key once"


def test_all_problems_are_reported_together() -> None:
    text = """\
server:
  prot: 80
  workers: 0
backends:
  - name: gpu-a
    url: ftp://x
    engine: vlm
    models: [a]
    read_timeout: ${RT}
  - name: gpu-a
    url: http://h
    engine: vllm
    models: []
"""
    lines = problems(text)
    paths = sorted(line.split(": ")[1] for line in lines)
    assert paths == [
        "backends[0].engine",
        "backends[0].read_timeout",
        "backends[0].url",
        "backends[1].models",
        "backends[1].name",
        "server.prot",
        "server.workers",
    ]
    assert all(line.startswith("gw.yaml: ") and "expected" in line for line in lines)


def test_api_key_never_appears_in_repr_or_errors() -> None:
    secret = "sk-very-secret-123"
    config = parse_config(backend_yaml(api_key="${KEY}"), env={"KEY": secret})
    assert config.backends[0].api_key_value == secret
    for text in (repr(config), str(config), repr(config.backends[0]), str(config.model_dump())):
        assert secret not in text
    # A wrong-typed key, an invalid reference in it, and a syntax error on its line: never echoed.
    report = "\n".join(
        problems(backend_yaml(api_key="[sk-very-secret-123]"))
        + problems(backend_yaml(api_key="'${sk-very-secret-123}'"))
        + problems(backend_yaml(api_key="sk-very-secret-123 'x': [", engine="vlm"))
    )
    assert secret not in report
    assert "backends[0].api_key: not a string; expected" in report


def test_credentials_in_url_are_rejected_without_echoing_them() -> None:
    (line,) = problems(backend_yaml(url="http://user:hunter2@h:8000"))
    assert "credentials in the url" in line
    assert "hunter2" not in line


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(MINIMAL)
    assert load_config(path).backends[0].name == "gpu-a"


def test_load_config_on_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: file not found; expected the path of a YAML config file"


def test_load_config_names_the_file_in_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("server: {port: x}\n" + MINIMAL)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(info.value) == f"{path}: server.port: not an integer (got 'x'); expected an integer"


def test_models_can_be_built_directly_and_still_check_names() -> None:
    backend = BackendConfig(name="a", url="http://h", engine="ollama", models=["m"])
    assert Config(backends=(backend,)).public_models() == ["m"]
    with pytest.raises(ValidationError):
        Config(backends=(backend, backend))


@pytest.mark.parametrize(
    "url",
    ["sqlite:///data/agents.db", "postgres://gw@db:5432/comox?schema=agents", "postgresql://gw@db/comox"],
)
def test_agents_store_takes_sqlite_and_postgres_urls(url: str) -> None:
    assert parse_config(f"agents: {{store: '{url}'}}\n" + MINIMAL).agents.store == url


def test_an_unsupported_agents_store_says_what_is_expected_without_echoing_it() -> None:
    (line,) = problems("agents: {store: 'mysql://gw:s3cret@db/comox'}\n" + MINIMAL)
    assert line == (
        "gw.yaml: agents.store: unsupported agents store; "
        "expected sqlite:///path/agents.db or postgres://user@host:5432/db[?schema=name]"
    )
