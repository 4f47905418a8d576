"""Shared bases for what a recipe names: the one strict model every recipe section and argument
model derives from, and the `name` / `{name: ..., args}` splitting of components.

A base module: it imports pydantic and nothing of dlcli above it, so every layer may use it.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base of every recipe section and argument model: unknown keys are errors and no number
    may be inf or nan (`lr: .inf` passes `gt=0` and would only fail mid-run). Validators are
    built on first use, so importing a registry stays cheap."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)


class ComponentArgs(Strict):
    """Base of the arguments of a named component given as `{name: adamw, lr: 1e-3}`
    (optimizers, schedules, losses)."""


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
