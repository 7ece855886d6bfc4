"""The base of every config block, and the error helper whose words reach the report unchanged."""

from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

ERROR_TYPE = "comox_config"  # pydantic error type of fail(); ctx holds problem, expected, show_got


def fail(problem: str, expected: str, *, show_got: bool = True) -> PydanticCustomError:
    """A validation error in our own words; the loader turns it into one report line."""
    return PydanticCustomError(
        ERROR_TYPE, "{problem}", {"problem": problem, "expected": expected, "show_got": show_got}
    )


class _Section(BaseModel):
    """Base of every config block: immutable, and unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_as_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """YAML reads yes/no/on/off as booleans, and pydantic would take them as 1/0: refuse."""
        annotation = cls.model_fields[info.field_name].annotation
        kinds = get_args(annotation) or (annotation,)
        if isinstance(value, bool) and (int in kinds or float in kinds):
            raise fail("a boolean is not a number", "a number")
        return value


def yaml_repr(value: Any) -> str:
    """A value as the user wrote it in YAML, cut short: null/true rather than None/True."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, dict | list) and value:
        return "a mapping" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
