"""The search space: recipe distributions -> Optuna suggestions -> `--set` overrides."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from dlcli.recipe.schema import Distribution

PLAIN = (type(None), bool, int, float, str)


def encoded(d: Distribution) -> bool:
    """Whether `d`'s choices go to Optuna as JSON strings: its categorical choices must be None,
    bool, int, float or str, so a list or mapping among them makes every choice a JSON text."""
    return d.choices is not None and not all(isinstance(c, PLAIN) for c in d.choices)


def suggest(trial: Any, name: str, d: Distribution) -> Any:
    """One value for `name` (a list or mapping choice decoded from its JSON text)."""
    if d.choices is not None:
        if not encoded(d):
            return trial.suggest_categorical(name, d.choices)
        return json.loads(trial.suggest_categorical(name, [json.dumps(c) for c in d.choices]))
    if d.is_int:
        return trial.suggest_int(name, d.low, d.high, step=d.step or 1, log=d.log)
    return trial.suggest_float(name, float(d.low), float(d.high), step=d.step, log=d.log)


def sample(trial: Any, space: dict[str, Distribution]) -> dict[str, Any]:
    return {name: suggest(trial, name, d) for name, d in space.items()}


def decoded(params: dict[str, Any], space: dict[str, Distribution]) -> dict[str, Any]:
    """A trial's params as Optuna stores them -> the values the recipe got (JSON choices decoded)."""
    return {name: _from_json(v) if name in space and encoded(space[name]) else v for name, v in params.items()}


def _from_json(value: Any) -> Any:
    # an older trial of a resumed study may predate the encoding of this parameter: keep it as it is
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return value


def as_overrides(params: dict[str, Any]) -> list[str]:
    """{"vars.width": 32} -> ["vars.width=32"] (JSON is YAML, so every value round-trips)."""
    return [f"{name}={json.dumps(value)}" for name, value in params.items()]


def grid(space: dict[str, Distribution]) -> dict[str, list]:
    """The grid sampler's axes: choices as given, stepped ranges spelled out."""
    axes = {}
    for name, d in space.items():
        if d.choices is not None:
            axes[name] = [json.dumps(c) for c in d.choices] if encoded(d) else d.choices
        else:
            values = np.arange(d.low, d.high + d.step / 2, d.step)
            axes[name] = [int(v) for v in values] if d.is_int else [float(v) for v in values]
    return axes
