"""Turn pydantic validation errors into located, readable Problems with a did-you-mean."""
from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from dlcli.errors import Path, Problem
from dlcli.registry import closest

_EXPECTED = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false", "string_type": "a string", "list_type": "a list",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The BaseModel classes an annotation may hold (through Optional, Union, list, dict)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def _fields_at(model: type[BaseModel] | None, loc: tuple) -> list[str]:
    """Valid field names of the model that sits at `loc` under `model`."""
    candidates = [model] if model else []
    for part in loc:
        nxt = []
        for m in candidates:
            if isinstance(part, str) and part in m.model_fields:
                nxt += _models_in(m.model_fields[part].annotation)
        candidates = nxt or candidates if isinstance(part, int) else nxt
    return [name for m in candidates for name in m.model_fields]


def _clean_loc(loc: tuple) -> tuple:
    """Drop pydantic's union-branch tags (`function-after[...]`, `list[...]`) from a location."""
    return tuple(p for p in loc if isinstance(p, int) or ("[" not in p and p not in {"str", "int", "float"}))


def _literal_suggestion(e: dict) -> str | None:
    """The nearest allowed value of a Literal ('tpee' -> 'tpe')."""
    if e["type"] != "literal_error" or not isinstance(e.get("input"), str):
        return None
    near = closest(e["input"], re.findall(r"'([^']*)'", str(e.get("ctx", {}).get("expected", ""))))
    return near[0] if near else None


def from_validation_error(err: ValidationError, prefix: Path = (), model: type[BaseModel] | None = None) -> list[Problem]:
    model = model or getattr(err, "_dlcli_model", None)
    problems = []
    for e in err.errors(include_url=False):
        loc = _clean_loc(tuple(e["loc"]))
        path = prefix + loc
        if e["type"] == "extra_forbidden":
            options = _fields_at(model, loc[:-1]) if model else []
            near = closest(str(loc[-1]), options)
            valid = f"; valid keys: {', '.join(sorted(options))}" if options and not near else ""
            problems.append(Problem(path, f"unknown key '{loc[-1]}'{valid}", near[0] if near else None))
            continue
        expected = _EXPECTED.get(e["type"])
        got = e.get("input")
        msg = e["msg"].removeprefix("Value error, ")
        if expected:
            msg = f"expected {expected}, got {got!r}"
        elif msg.startswith("Input should be "):
            msg = f"expected {msg.removeprefix('Input should be ')}, got {got!r}"
        if e["type"] == "missing":
            msg = "required key is missing"
        problems.append(Problem(path, msg, _literal_suggestion(e)))
    return problems
