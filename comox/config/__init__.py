"""Typed gateway configuration: YAML text -> ``${VAR}`` interpolation -> frozen pydantic models.

Usage::

    try:
        config = load_config("gateway.yaml")
    except ConfigError as err:
        print(err, file=sys.stderr)          # every problem, one per line
    for backend in config.backends:
        backend.host, backend.port, backend.effective_read_timeout(config.upstream)

``models`` holds the schema, ``loader`` the YAML reading and error reporting.
"""

from comox.config.loader import ConfigError, load_config, parse_config
from comox.config.models import (
    ENGINES,
    BackendConfig,
    Config,
    Engine,
    ServerConfig,
    UpstreamConfig,
)

__all__ = [
    "ENGINES",
    "BackendConfig",
    "Config",
    "ConfigError",
    "Engine",
    "ServerConfig",
    "UpstreamConfig",
    "load_config",
    "parse_config",
]
