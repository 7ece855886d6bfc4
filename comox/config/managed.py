"""Engines the gateway runs itself: the `managed:` block of a backend.

A managed backend's models each get their own engine process, started from `command` with
`{model}` (the engine's name for the model), `{port}` (a free loopback port the gateway
picks) and `{python}` (the gateway's interpreter) filled in. Models load when first asked
for, unload after `idle_unload` seconds unused, and the least recently used one is stopped
when `max_loaded` (or `memory_budget`) would be exceeded.
"""

from pydantic import Field, field_validator

from comox.config.section import _Section, fail

PLACEHOLDERS = ("{model}", "{port}", "{python}")


class ManagedConfig(_Section):
    command: tuple[str, ...]
    """The engine's argv, e.g. [llama-server, -m, /models/{model}.gguf, --port, '{port}']."""
    env: dict[str, str] = {}
    """Extra environment variables for the engine process."""
    ready_timeout: float = Field(120.0, gt=0.0)
    """Seconds a started engine has to answer its health path with 2xx before it is restarted."""
    load_timeout: float = Field(180.0, gt=0.0)
    """Seconds a request waits for its model to load (or another to be evicted) before a 503
    model_loading_timeout."""
    idle_unload: float | None = Field(None, gt=0.0)
    """Stop a model's engine after this many seconds without requests; None keeps it loaded."""
    max_loaded: int | None = Field(None, ge=1)
    """At most this many of the backend's models run at once; None: no limit."""
    memory_budget: float | None = Field(None, gt=0.0)
    """Total memory (in any unit, the same as `memory`) the running models may use."""
    memory: dict[str, float] = {}
    """Memory one model takes, by public model name; unlisted models count `default_memory`."""
    default_memory: float = Field(0.0, ge=0.0)
    preload: bool = False
    """Start models at boot (up to the budget) instead of on the first request."""
    restart_backoff: float = Field(1.0, gt=0.0)
    """First delay before restarting a crashed engine; doubles per crash in a row."""
    restart_backoff_max: float = Field(30.0, gt=0.0)
    """Longest delay between restarts; an engine that ran this long resets the backoff."""
    stop_timeout: float = Field(10.0, gt=0.0)
    """Seconds between SIGTERM and SIGKILL when stopping an engine."""
    log_lines: int = Field(1000, ge=0)
    """Last lines of each engine's output kept in memory (GET /admin/backends shows the tail)."""
    log_dir: str | None = None
    """Also append each engine's output to <log_dir>/<backend>-<model>.log."""

    @field_validator("command")
    @classmethod
    def _check_command(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise fail("empty command", "the engine's argv, e.g. [llama-server, --port, '{port}']")
        if not any("{port}" in part for part in value):
            raise fail(
                "the command has no {port}",
                "a '{port}' placeholder: the gateway picks each engine's port",
                show_got=False,
            )
        return value
