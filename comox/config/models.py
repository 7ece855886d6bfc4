"""The config schema: frozen pydantic models, one per YAML block.

Every model is frozen (the config is validated once, then shared read-only by every request)
and forbids unknown keys (a misspelt option must be an error, not silently ignored). Checks
that pydantic's own messages would explain badly raise ``fail(problem, expected)``, whose
words the loader puts in the report unchanged.
"""

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, get_args
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from comox.config.agents import AgentsConfig
from comox.config.audit import AuditConfig
from comox.config.cache import CacheConfig
from comox.config.managed import ManagedConfig
from comox.config.observability import ObservabilityConfig
from comox.config.routing import RoutingConfig
from comox.config.section import ERROR_TYPE, _Section, fail, yaml_repr
from comox.config.sovereignty import SovereigntyConfig, check_against_backends
from comox.config.tenancy import TenancyConfig, check_limits_url, check_store_url

Engine = Literal["vllm", "sglang", "llamacpp", "llama-cpp-python", "tgi", "ollama", "openai", "anthropic"]
ENGINES: tuple[str, ...] = get_args(Engine)

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
EXAMPLE_BACKENDS = (
    "backends: [{name: gpu-a, url: 'http://127.0.0.1:8100', engine: vllm, models: [llama-3-8b]}]"
)
REQUIRED_HINTS = {
    "backends": f"a list of backends, e.g. {EXAMPLE_BACKENDS}",
    "name": "a backend name such as gpu-a",
    "url": "the engine's base URL, e.g. http://127.0.0.1:8100",
    "engine": "one of " + ", ".join(ENGINES),
    "models": "a list of model names, or a mapping {public-name: engine-name}",
}


class ServerConfig(_Section):
    """The gateway's own HTTP listener: where it listens and the limits that protect it."""

    host: str = Field("127.0.0.1", min_length=1)
    """Address to bind; loopback by default so nothing is exposed until asked."""
    port: int = Field(8080, ge=0, le=65535)
    """TCP port; 0 picks a free port."""
    workers: int = Field(1, ge=1)
    """Worker processes; several share the port through SO_REUSEPORT."""
    backlog: int = Field(2048, ge=1)
    """Listen backlog."""
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1)
    """Request bodies larger than this are refused with 413."""
    max_header_bytes: int = Field(64 * 1024, ge=1024)
    """Limit on request line plus headers together."""
    header_timeout: float = Field(10.0, gt=0.0)
    """Seconds to receive the request line and all headers (guards against slow-loris clients)."""
    body_timeout: float = Field(60.0, gt=0.0)
    """Seconds to receive the whole body once the headers are in."""
    keepalive_timeout: float = Field(75.0, gt=0.0)
    """An idle keep-alive client connection is closed after this many seconds."""
    drain_timeout: float = Field(30.0, gt=0.0)
    """On SIGTERM, in-flight requests get this many seconds to finish."""


class UpstreamConfig(_Section):
    """Defaults for the connections to every backend; a backend may override the timeouts."""

    connect_timeout: float = Field(5.0, gt=0.0)
    """Seconds to open a TCP (and TLS) connection to a backend."""
    read_timeout: float = Field(600.0, gt=0.0)
    """Seconds to wait for the response head, and the longest gap between two body chunks;
    generous because a long generation can be slow to start."""
    max_idle_connections: int = Field(256, ge=0)
    """Idle keep-alive connections kept per backend; 0 disables pooling."""
    idle_ttl: float = Field(60.0, gt=0.0)
    """Idle upstream connections older than this many seconds are closed."""


class BackendConfig(_Section):
    """One inference engine the gateway forwards to.

    ``models`` is always a read-only mapping public name -> engine name, whether the file gave
    a list (each name maps to itself) or a mapping. Connection details are derived from ``url``
    by properties (``host``, ``port``, ``use_tls``...). Timeouts left unset (None) fall back to
    the ``upstream`` block: use ``effective_connect_timeout(upstream)`` and
    ``effective_read_timeout(upstream)`` rather than reading the fields directly.
    """

    name: str
    """Unique name used in logs, metrics and routing: letters, digits, '_', '.', '-'."""
    url: str
    """Base URL of the engine (its /v1 API lives under it); normalised without trailing slash."""
    engine: Engine
    """Kind of engine, which selects the adapter that speaks to it."""
    models: Mapping[str, str]
    """Public model name (what clients ask for) -> name the engine knows it by."""
    api_key: SecretStr | None = None
    """Bearer token sent upstream; hidden from repr and from error reports. Empty means none."""
    connect_timeout: float | None = Field(None, gt=0.0)
    """Override of upstream.connect_timeout for this backend."""
    read_timeout: float | None = Field(None, gt=0.0)
    """Override of upstream.read_timeout for this backend."""
    weight: float = Field(1.0, gt=0.0)
    """Relative capacity: load is divided by it, and the weighted strategy sends in proportion."""
    max_concurrency: int | None = Field(None, ge=1)
    """Requests in flight from this gateway worker above which the backend counts as full."""
    max_queue: int | None = Field(None, ge=0)
    """Engine-reported waiting requests above which the backend counts as saturated."""
    tier: Literal["local", "cloud"] | None = None
    """Cloud backends serve only when no local one can; default: cloud for engine openai and
    anthropic, local otherwise."""
    jurisdiction: str | None = None
    """Sovereignty label: legal jurisdiction of the data once there (EU, CA, US...); None: unknown,
    which no class rule listing jurisdictions accepts."""
    region: str | None = None
    """Sovereignty label: where the engine runs (eu-west-1, on-prem-mtl...); informative."""
    operator: str | None = None
    """Sovereignty label: who runs it, `self` or the provider's name; default `self` for local
    backends, the engine (openai, anthropic) or else the URL host for cloud ones."""
    managed: ManagedConfig | None = None
    """The gateway starts, supervises and swaps this backend's engine processes itself (see
    comox/config/managed.py); `url` then defaults to http://127.0.0.1 and its port is ignored."""

    @model_validator(mode="before")
    @classmethod
    def _managed_url_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("managed") is not None and "url" not in data:
            return {**data, "url": "http://127.0.0.1"}
        return data

    @model_validator(mode="after")
    def _managed_is_local(self) -> "BackendConfig":
        if self.managed is not None and self.is_cloud:
            raise fail("a cloud backend cannot be managed", "tier: local for managed engines")
        return self

    @model_validator(mode="after")
    def _cloud_is_not_self(self) -> "BackendConfig":
        if self.is_cloud and self.operator == "self":
            raise fail(
                "a cloud backend cannot be operated by 'self'",
                "the provider's name as operator, or tier: local",
                show_got=False,
            )
        return self

    @field_validator("name", mode="before")
    @classmethod
    def _check_name(cls, value: Any) -> Any:
        if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
            raise fail(
                "invalid backend name",
                "letters, digits, '_', '.' and '-', starting with a letter or digit, e.g. gpu-a",
            )
        return value

    @field_validator("url", mode="before")
    @classmethod
    def _check_url(cls, value: Any) -> str:
        """Catch the usual URL mistakes here, so the proxy can trust scheme, host and port."""
        expected = "an http:// or https:// base URL such as http://127.0.0.1:8100"
        if not isinstance(value, str) or "://" not in value:
            raise fail("not a URL with a scheme", expected)
        parts = urlsplit(value.strip())
        if "@" in parts.netloc:
            raise fail("credentials in the url are not allowed", "the key in api_key", show_got=False)
        if parts.scheme.lower() not in ("http", "https"):
            raise fail(f"unsupported scheme {parts.scheme!r}", expected)
        if not parts.hostname:
            raise fail("no host in url", expected)
        if parts.query or parts.fragment or value.rstrip().endswith(("?", "#")):
            raise fail("url has a query or fragment", "a base URL without '?' or '#'")
        try:
            parts.port  # noqa: B018 - urlsplit validates the port lazily, on access
        except ValueError:
            raise fail("invalid port in url", "a port from 1 to 65535") from None
        path = parts.path.rstrip("/")
        if path.endswith("/v1"):  # the OpenAI SDK habit: the gateway adds /v1 itself
            path = path[: -len("/v1")]
        return urlunsplit((parts.scheme.lower(), parts.netloc, path, "", ""))

    @field_validator("engine", mode="before")
    @classmethod
    def _check_engine(cls, value: Any) -> Any:
        if value not in ENGINES:
            raise fail(f"unknown engine {yaml_repr(value)}", "one of " + ", ".join(ENGINES), show_got=False)
        return value

    @field_validator("models", mode="plain")
    @classmethod
    def _normalise_models(cls, value: Any) -> Mapping[str, str]:
        """Accept a list (public name == engine name) or a mapping, and return one shape."""
        if isinstance(value, list | tuple):
            pairs = [(name, name) for name in value]
        elif isinstance(value, Mapping):
            pairs = list(value.items())
        else:
            raise fail("not a list or mapping", REQUIRED_HINTS["models"])
        if not pairs:
            raise fail("no models listed", "at least one model name, e.g. models: [llama-3-8b]")
        models: dict[str, str] = {}
        for public, engine_name in pairs:
            for name in (public, engine_name):
                if not isinstance(name, str) or not name.strip():
                    raise fail(
                        f"model name {yaml_repr(name)} is not a non-empty string",
                        "quoted names, e.g. '3.1' rather than 3.1",
                        show_got=False,
                    )
            if public in models:
                raise fail(f"model {public!r} is listed twice", "each model once", show_got=False)
            models[public] = engine_name
        return MappingProxyType(models)

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value: Any) -> Any:
        """``api_key: ${KEY:-}`` must mean "no key", not "send an empty bearer token"."""
        return None if value == "" else value

    @field_serializer("models")
    def _dump_models(self, models: Mapping[str, str]) -> dict[str, str]:
        return dict(models)

    @property
    def is_cloud(self) -> bool:
        if self.tier is not None:
            return self.tier == "cloud"
        return self.engine in ("openai", "anthropic")

    @property
    def operator_label(self) -> str:
        if self.operator is not None:
            return self.operator
        if not self.is_cloud:
            return "self"
        return self.engine if self.engine in ("openai", "anthropic") else self.host

    @property
    def scheme(self) -> str:
        """'http' or 'https'."""
        return urlsplit(self.url).scheme

    @property
    def use_tls(self) -> bool:
        return self.scheme == "https"

    @property
    def host(self) -> str:
        """Host name or IP to connect to (IPv6 without brackets)."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """Port from the url, else 443 for https and 80 for http."""
        return urlsplit(self.url).port or (443 if self.use_tls else 80)

    @property
    def host_header(self) -> str:
        """Value for the upstream Host header: the url's authority as written (brackets and port)."""
        return urlsplit(self.url).netloc

    @property
    def base_path(self) -> str:
        """Path prefix of the url, "" if none, never a trailing slash: base_path + "/v1/..."."""
        return urlsplit(self.url).path

    @property
    def api_key_value(self) -> str | None:
        """The plain bearer token, for building the upstream request only; never log it."""
        return self.api_key.get_secret_value() if self.api_key is not None else None

    def effective_connect_timeout(self, upstream: UpstreamConfig) -> float:
        """This backend's connect timeout, falling back to ``upstream.connect_timeout``."""
        return self.connect_timeout if self.connect_timeout is not None else upstream.connect_timeout

    def effective_read_timeout(self, upstream: UpstreamConfig) -> float:
        """This backend's read timeout, falling back to ``upstream.read_timeout``."""
        return self.read_timeout if self.read_timeout is not None else upstream.read_timeout


class Config(_Section):
    """The whole gateway configuration, as validated from one YAML file."""

    server: ServerConfig = ServerConfig()
    upstream: UpstreamConfig = UpstreamConfig()
    routing: RoutingConfig = RoutingConfig()
    backends: tuple[BackendConfig, ...]
    store: str = "sqlite:///comox-data/comox.db"
    """Where tenants, keys and usage live: sqlite:///path (relative to the working directory) or
    postgres://user:password@host:5432/db[?schema=name]."""
    limits: str = "memory"
    """Where rate-limit and budget counters live: memory (per worker) or redis://host:6379/0."""
    admin_key: SecretStr | None = None
    """Bearer key of the /admin/ API; none disables it. Never logged."""
    tenancy: TenancyConfig = TenancyConfig()
    audit: AuditConfig = AuditConfig()
    sovereignty: SovereigntyConfig = SovereigntyConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    cache: CacheConfig = CacheConfig()
    agents: AgentsConfig = AgentsConfig()

    _check_store = field_validator("store", mode="before")(check_store_url)
    _check_limits = field_validator("limits", mode="before")(check_limits_url)

    @field_validator("admin_key", mode="before")
    @classmethod
    def _empty_admin_key_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="before")
    @classmethod
    def _empty_section_means_defaults(cls, data: Any) -> Any:
        """A ``server:`` line whose options are all commented out is YAML null: use defaults."""
        if isinstance(data, dict):
            sections = (
                "server",
                "upstream",
                "routing",
                "tenancy",
                "audit",
                "sovereignty",
                "observability",
                "cache",
                "agents",
            )
            return {k: {} if v is None and k in sections else v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _managed_needs_one_worker(self) -> "Config":
        """Engine processes belong to one process: with several workers each would start its own."""
        if self.server.workers > 1 and any(b.managed is not None for b in self.backends):
            raise fail(
                "managed backends need a single worker",
                "server.workers: 1 when any backend has managed:",
                show_got=False,
            )
        return self

    @model_validator(mode="after")
    def _check_model_routing(self) -> "Config":
        """Routing options and fallbacks may only name models some backend serves."""
        known = set(self.public_models())
        errors: list[InitErrorDetails] = []
        for model, options in self.routing.models.items():
            if model not in known:
                errors.append(_unknown_model(("routing", "models", model), model, known))
            for i, fallback in enumerate(options.fallbacks):
                if fallback not in known or fallback == model:
                    errors.append(
                        _unknown_model(("routing", "models", model, "fallbacks", i), fallback, known)
                    )
        errors += check_against_backends(self.sovereignty, self.backends, known)
        embedder = self.cache.semantic.backend_model
        if self.cache.enabled and self.cache.semantic.enabled and embedder and embedder not in known:
            errors.append(_unknown_model(("cache", "semantic", "embedder"), embedder, known))
        if self.agents.enabled:
            errors += [
                _unknown_model(("agents", option), model, known)
                for option, model in self.agents.models_used()
                if model not in known
            ]
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @field_validator("backends", mode="wrap")
    @classmethod
    def _check_backends(cls, value: Any, handler: Any) -> tuple[BackendConfig, ...]:
        """Require at least one backend and unique names, reported together with the errors
        inside each backend (the name check runs on the raw input, before item validation)."""
        if isinstance(value, list | tuple) and not value:
            raise fail(
                "no backends configured", f"at least one backend, e.g. {EXAMPLE_BACKENDS}", show_got=False
            )
        duplicates = _duplicate_names(value)
        try:
            backends = handler(value)
        except ValidationError as exc:
            if not duplicates:
                raise
            errors = [*_reraisable(exc), *duplicates]
        else:
            if not duplicates:
                return backends
            errors = duplicates
        raise ValidationError.from_exception_data(cls.__name__, errors)

    def public_models(self) -> list[str]:
        """Every model name clients may request, sorted, each once (backends may share one)."""
        return sorted({name for backend in self.backends for name in backend.models})


def _unknown_model(loc: tuple, model: str, known: set[str]) -> InitErrorDetails:
    expected = "a model served by some backend: " + ", ".join(sorted(known))
    problem = f"model {model!r} is not served by any backend (or falls back to itself)"
    return InitErrorDetails(type=fail(problem, expected, show_got=False), loc=loc, input=model)


def _duplicate_names(value: Any) -> list[InitErrorDetails]:
    if not isinstance(value, list | tuple):
        return []
    first: dict[str, int] = {}
    errors: list[InitErrorDetails] = []
    for index, item in enumerate(value):
        name = item.get("name") if isinstance(item, Mapping) else getattr(item, "name", None)
        if not isinstance(name, str):
            continue
        if name in first:
            problem = f"duplicate backend name {name!r}, also used by backends[{first[name]}]"
            errors.append(
                InitErrorDetails(
                    type=fail(problem, "a unique name for each backend", show_got=False),
                    loc=(index, "name"),
                    input=name,
                )
            )
        else:
            first[name] = index
    return errors


def _reraisable(exc: ValidationError) -> list[InitErrorDetails]:
    """Turn caught errors back into raisable details, so they can be merged with ours."""
    details: list[InitErrorDetails] = []
    for err in exc.errors(include_url=False):
        ctx, custom = err.get("ctx"), err["type"] == ERROR_TYPE
        kind = PydanticCustomError(ERROR_TYPE, "{problem}", ctx) if custom else err["type"]
        detail = InitErrorDetails(type=kind, loc=err["loc"], input=err["input"])
        if ctx and not custom:
            detail["ctx"] = ctx
        details.append(detail)
    return details
