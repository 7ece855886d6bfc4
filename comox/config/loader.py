"""Loading the config: YAML, ``${VAR}`` interpolation, and a report of every problem.

An operator fixing a broken file wants every problem at once, phrased in terms of their YAML and
never a traceback or a secret; so pydantic's errors are translated here into one line each:
``FILE: key.path[i].field: what is wrong (got X); expected Y``.
"""

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from comox.config.models import EXAMPLE_BACKENDS, REQUIRED_HINTS, Config
from comox.config.section import ERROR_TYPE, yaml_repr

_SECRET_KEYS = frozenset(
    {"api_key", "admin_key", "store", "limits"}
)  # values under these keys never appear in a report
Loc = tuple[str | int, ...]
_NOTHING = object()  # "no value to show" marker for _line()
_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VAR = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)
_SIMPLE_ERRORS = {
    "string_type": ("not a string", "a string (put it in quotes)"),
    "string_too_short": ("empty", "a non-empty string"),
    "int_type": ("not an integer", "an integer"),
    "int_parsing": ("not an integer", "an integer"),
    "int_from_float": ("not a whole number", "an integer"),
    "float_type": ("not a number", "a number"),
    "float_parsing": ("not a number", "a number"),
    "finite_number": ("not a finite number", "a finite number"),
    "model_type": ("not a mapping", "a mapping of 'key: value' lines"),
    "dict_type": ("not a mapping", "a mapping of 'key: value' lines"),
    "list_type": ("not a list", "a list of '- ...' items"),
    "tuple_type": ("not a list", "a list of '- ...' items"),
}
_BOUNDS = {  # pydantic error type -> (ctx key, operator)
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}
_SYNTAX = "${NAME} or ${NAME:-default}, and $${ for a literal ${"


class ConfigError(Exception):
    """The configuration is invalid. ``str(err)`` is the full report, one problem per line;
    ``err.problems`` holds the same lines as a tuple."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a YAML config file; raises ConfigError listing every problem."""
    source = os.fsdecode(path)
    try:
        with open(path, encoding="utf-8-sig") as file:
            text = file.read()
    except FileNotFoundError:
        raise ConfigError([f"{source}: file not found; expected the path of a YAML config file"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{source}: not UTF-8 text; expected a UTF-8 encoded YAML file"]) from None
    except OSError as exc:
        raise ConfigError(
            [f"{source}: cannot read file ({exc.strerror}); expected a readable file"]
        ) from None
    return parse_config(text, source)


def parse_config(text: str, source: str = "<string>", env: Mapping[str, str] | None = None) -> Config:
    """Validate YAML text; ``${VAR}`` references are resolved from ``env`` (default: os.environ).

    ``source`` names the text in the report (normally the file name). Raises ConfigError with
    every problem found: YAML errors, unresolved variables and all validation errors together.
    """
    tree, problems = _parse_yaml(text, source)
    if tree is None:
        raise ConfigError(
            [f"{source}: the configuration is empty; expected at least one backend, e.g. {EXAMPLE_BACKENDS}"]
        )
    if not isinstance(tree, dict):
        raise ConfigError(
            [
                f"{source}: the top level is not a mapping (got {yaml_repr(tree)}); "
                "expected a mapping with keys " + ", ".join(Config.model_fields)
            ]
        )

    failures: list[tuple[Loc, str, str]] = []
    tree = _interpolate(tree, os.environ if env is None else env, (), failures)
    problems += [_line(source, loc, problem, expected) for loc, problem, expected in failures]
    config: Config | None = None
    try:
        config = Config.model_validate(tree)
    except ValidationError as exc:
        # A value whose variable is unset already has its report line; don't also say it is invalid.
        failed = [loc for loc, _, _ in failures]
        problems += [
            _line(source, err["loc"], *_describe(err))
            for err in exc.errors(include_url=False)
            if err["type"] == "extra_forbidden" or not any(err["loc"][: len(loc)] == loc for loc in failed)
        ]
    if problems or config is None:
        raise ConfigError(problems)
    return config


class _Loader(yaml.SafeLoader):
    """SafeLoader that records duplicate keys: plain YAML silently keeps the last one."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[str, yaml.Mark] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            mark = key_node.start_mark
            if key_node.value in first:
                self.duplicates.append(
                    f"{mark.line + 1}:{mark.column + 1}: duplicate key {key_node.value!r} "
                    f"(first on line {first[key_node.value].line + 1}); expected each key once"
                )
            else:
                first[key_node.value] = mark
        return super().construct_mapping(node, deep)


def _parse_yaml(text: str, source: str) -> tuple[Any, list[str]]:
    """The YAML tree and its duplicate-key problems; raises ConfigError on a syntax error."""
    loader = _Loader(text)
    try:
        return loader.get_single_data(), [f"{source}:{dup}" for dup in loader.duplicates]
    except yaml.YAMLError as exc:
        # Only problem/context and marks: str(exc) quotes the offending line, which may hold a secret.
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and context_mark:
            problem += f" ({context} on line {context_mark.line + 1})"
        report = f"{where}: invalid YAML: {problem}"
    finally:
        loader.dispose()
    raise ConfigError([report])  # raised outside the except block: no chained YAMLError to leak


def _interpolate(node: Any, env: Mapping[str, str], loc: Loc, failures: list[tuple[Loc, str, str]]) -> Any:
    """Resolve ``${VAR}``, ``${VAR:-default}`` and ``$${`` in string values (never in keys)."""
    if isinstance(node, dict):
        return {key: _interpolate(value, env, (*loc, key), failures) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate(value, env, (*loc, i), failures) for i, value in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        whole, inner = match.group(0), match.group(1)
        if whole == "$${":
            return "${"
        if inner is None:
            failures.append((loc, "unclosed '${'", _SYNTAX))
            return whole
        ref = _VAR.fullmatch(inner)
        if ref is None:
            shown = "" if _is_secret(loc) else f" '${{{inner}}}'"
            failures.append((loc, f"invalid variable reference{shown}", _SYNTAX))
            return whole
        name, default, value = ref["name"], ref["default"], env.get(ref["name"])
        if default is not None and not value:
            return default
        if value is None:
            expected = f"{name} to be set, or a default as in ${{{name}:-value}}"
            failures.append((loc, f"environment variable {name} is not set", expected))
            return whole
        return value

    return _REF.sub(substitute, node)


def _describe(err: Any) -> tuple[str, str | None, Any]:
    """(what is wrong, what would be right, offending value or _NOTHING) for a pydantic error."""
    kind, loc, ctx, value = err["type"], err["loc"], err.get("ctx") or {}, err["input"]
    if kind == ERROR_TYPE:
        return ctx["problem"], ctx["expected"], value if ctx["show_got"] else _NOTHING
    if kind == "missing":
        return "missing required key", REQUIRED_HINTS.get(str(loc[-1]), "a value"), _NOTHING
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unexpected key {loc[-1]!r}{hint}", "one of " + ", ".join(allowed), _NOTHING
    if kind in _BOUNDS:
        key, operator = _BOUNDS[kind]
        bound = ctx[key]
        limit = (
            f"a number {operator} {bound:g}" if isinstance(bound, float) else f"an integer {operator} {bound}"
        )
        return "out of range", limit, value
    problem, expected = _SIMPLE_ERRORS.get(kind, (err["msg"], None))
    return problem, expected, value


def _line(source: str, loc: Loc, problem: str, expected: str | None = None, got: Any = _NOTHING) -> str:
    """One report line: ``FILE: path: problem (got value); expected ...``."""
    text = f"{source}: {_path(loc)}: {problem}" if loc else f"{source}: {problem}"
    if got is not _NOTHING and not _is_secret(loc):
        text += f" (got {yaml_repr(got)})"
    return f"{text}; expected {expected}" if expected else text


def _path(loc: Loc) -> str:
    """('backends', 0, 'url') -> 'backends[0].url'."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def _is_secret(loc: Loc) -> bool:
    return any(part in _SECRET_KEYS for part in loc)


def _fields_at(loc: Loc) -> list[str]:
    """The keys allowed at ``loc``, found by walking the models (list indexes are skipped)."""
    model: type[BaseModel] | None = Config
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field else None
    return list(model.model_fields) if model else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if get_origin(annotation) is None and isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next(filter(None, map(_model_in, get_args(annotation))), None)
