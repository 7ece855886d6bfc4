"""Config of observability: the /metrics endpoint, access logs and OpenTelemetry traces."""

import importlib.util
from typing import Any

from pydantic import Field, field_validator

from comox.config.section import _Section, fail


class MetricsConfig(_Section):
    """Prometheus metrics, kept in plain counters and rendered only when scraped."""

    enabled: bool = True
    """Serve the metrics endpoint; off removes the route and every per-request record."""
    path: str = "/metrics"
    """Path of the Prometheus text endpoint."""
    multiprocess_dir: str | None = None
    """Directory where each worker writes its snapshot so a scrape of any worker shows all of
    them; unset: a private temporary directory when there are several workers."""
    write_interval: float = Field(1.0, gt=0.0, le=60.0)
    """Seconds between snapshot writes of each worker (a scrape may lag others by this much)."""

    @field_validator("path", mode="before")
    @classmethod
    def _check_path(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value.startswith("/") or " " in value:
            raise fail("not a URL path", "a path such as /metrics")
        return value


def _otel_installed() -> bool:
    return importlib.util.find_spec("opentelemetry.sdk") is not None


class TracingConfig(_Section):
    """OpenTelemetry traces exported over OTLP/HTTP; off by default, and free when off."""

    enabled: bool = False
    """Create spans; needs the optional extra: pip install 'comox-gateway[otel]'."""
    endpoint: str = "http://127.0.0.1:4318/v1/traces"
    """OTLP/HTTP traces endpoint of the collector."""
    service_name: str = Field("comox-gateway", min_length=1)
    """The service.name resource attribute of every span."""
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0)
    """Share of requests traced when the client sent no traceparent (a sampled parent is
    always followed)."""

    @field_validator("enabled")
    @classmethod
    def _check_installed(cls, value: bool) -> bool:
        if value and not _otel_installed():
            raise fail(
                "tracing needs the OpenTelemetry SDK, which is not installed",
                "pip install 'comox-gateway[otel]', or tracing.enabled: false",
                show_got=False,
            )
        return value


class ObservabilityConfig(_Section):
    metrics: MetricsConfig = MetricsConfig()
    access_log: bool = False
    """One JSON line per request on stderr (ids, route, status, timings, tokens; never
    content or keys). Off by default: it costs about ten times what the metrics cost per
    request (bench/METRICS.md); the Helm chart turns it on."""
    tracing: TracingConfig = TracingConfig()


def with_multiprocess_dir(config, path: str):
    """`config` with metrics.multiprocess_dir set (the supervisor's scratch directory)."""
    o = config.observability
    metrics = o.metrics.model_copy(update={"multiprocess_dir": path})
    return config.model_copy(update={"observability": o.model_copy(update={"metrics": metrics})})
