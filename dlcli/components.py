"""Shared base for the argument models of registered components (optimizers, losses, ...)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ComponentArgs(BaseModel):
    """Arguments of a named component; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)  # `.inf` would only fail mid-run


class AmbiguousName(ValueError):
    """A component named twice over (`{type: iris, name: wine}`): said as it is, not as a missing name."""


def split_component(value) -> tuple[str, dict]:
    """`adamw` or `{name: adamw, lr: 1e-3}` -> ("adamw", {"lr": 1e-3})."""
    if isinstance(value, str):
        return value, {}
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        rest = dict(value)
        return rest.pop("name"), rest
    raise ValueError("expected a name or a mapping with a `name` key")


def split_source(value) -> tuple[str, dict]:
    """`digits` or `{type: csv, path: ...}` (data.source) -> ("csv", {"path": ...}).

    `type` and `name` both name the source: with both, one would silently win (`{type: iris,
    name: wine}` trained on wine), so that is an error."""
    if isinstance(value, dict) and "type" in value and "name" in value:
        raise AmbiguousName(f"give the source as `type` or as `name`, not both (type: {value['type']!r}, "
                         f"name: {value['name']!r})")
    if isinstance(value, dict) and "type" in value:
        value = {"name": value["type"], **{k: v for k, v in value.items() if k != "type"}}
    return split_component(value)
