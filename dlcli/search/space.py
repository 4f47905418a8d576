"""The search space: recipe distributions -> Optuna suggestions -> `--set` overrides."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from dlcli.recipe.schema import Distribution

PLAIN = (type(None), bool, int, float, str)


def suggest(trial: Any, name: str, d: Distribution) -> Any:
    """One value for `name`; choices that are not plain values (lists, mappings) go through JSON,
    since Optuna's categorical choices must be plain."""
    if d.choices is not None:
        if all(isinstance(c, PLAIN) for c in d.choices):
            return trial.suggest_categorical(name, d.choices)
        return json.loads(trial.suggest_categorical(name, [json.dumps(c) for c in d.choices]))
    if d.is_int:
        return trial.suggest_int(name, d.low, d.high, step=d.step or 1, log=d.log)
    return trial.suggest_float(name, float(d.low), float(d.high), step=d.step, log=d.log)


def sample(trial: Any, space: dict[str, Distribution]) -> dict[str, Any]:
    return {name: suggest(trial, name, d) for name, d in space.items()}


def as_overrides(params: dict[str, Any]) -> list[str]:
    """{"vars.width": 32} -> ["vars.width=32"] (JSON is YAML, so every value round-trips)."""
    return [f"{name}={json.dumps(value)}" for name, value in params.items()]


def grid(space: dict[str, Distribution]) -> dict[str, list]:
    """The grid sampler's axes: choices as given, stepped ranges spelled out."""
    axes = {}
    for name, d in space.items():
        if d.choices is not None:
            axes[name] = d.choices if all(isinstance(c, PLAIN) for c in d.choices) else [json.dumps(c) for c in d.choices]
        else:
            values = np.arange(d.low, d.high + d.step / 2, d.step)
            axes[name] = [int(v) for v in values] if d.is_int else [float(v) for v in values]
    return axes
