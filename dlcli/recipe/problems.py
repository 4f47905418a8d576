"""Turn pydantic validation errors into located, readable Problems with a did-you-mean."""
from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
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


_UNIONS = (typing.Union, types.UnionType)


def _unwrap(annotation: Any) -> Any:
    """The annotation without Annotated[...] and Optional[...], which add no union branch."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        branches = _branches(annotation)
        if origin in _UNIONS and len(branches) == 1:
            annotation = branches[0]
            continue
        return annotation


def _branches(annotation: Any) -> list:
    return [a for a in typing.get_args(annotation) if a is not type(None)]


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in _UNIONS and len(_branches(annotation)) > 1


def _tag_of(annotation: Any) -> str:
    """How pydantic names a union branch in an error location: str, list[str], CheckTolerance, ..."""
    origin = typing.get_origin(annotation) or annotation
    return "any" if annotation is Any else getattr(origin, "__name__", str(origin)).lower()


def _branch(tag: str, union: Any) -> list:
    """The branches of `union` that pydantic's location tag `tag` stands for (all when unclear)."""
    found = [a for a in _branches(union) for u in [_unwrap(a)]
             if tag.lower() == _tag_of(u) or tag.lower().startswith(_tag_of(u) + "[")]
    return found or _branches(union)


def _inner(annotation: Any, part: Any) -> list:
    """The annotations that sit at key or index `part` of a value of type `annotation`."""
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(part) if isinstance(part, str) else None
        return [field.annotation] if field else []
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (list, tuple, set) and args and isinstance(part, int):
        return [args[0]]
    if origin is dict and len(args) == 2:
        return [args[1]]
    return []


@dataclass
class _Where:
    path: tuple  # the key path, without pydantic's union-branch tags
    unions: list  # (key path of a union, branch tag) for each union on the way, outermost first
    types: list  # the annotations at the end of the path


def _locate(model: type[BaseModel] | None, loc: tuple) -> _Where:
    """Walk an error location through the model's annotations, telling keys from branch tags."""
    if model is None:
        return _Where(_clean_loc(loc), [], [])
    path: list = []
    unions: list = []
    kinds: list = [model]
    for part in loc:
        union = next((u for u in map(_unwrap, kinds) if _is_union(u)), None)
        if union is not None and isinstance(part, str):
            unions.append((tuple(path), part))
            kinds = _branch(part, union)
        elif isinstance(part, str) and part.startswith("function-"):
            continue  # a validator's wrapper, not a key
        else:
            path.append(part)
            kinds = [inner for k in kinds for inner in _inner(k, part)]
    return _Where(tuple(path), unions, kinds)


def _clean_loc(loc: tuple) -> tuple:
    """Drop pydantic's union-branch tags (`function-after[...]`, `list[...]`) from a location."""
    return tuple(p for p in loc if isinstance(p, int) or ("[" not in p and p not in {"str", "int", "float"}))


def _literal_suggestion(e: dict) -> str | None:
    """The nearest allowed value of a Literal ('tpee' -> 'tpe')."""
    if e["type"] != "literal_error" or not isinstance(e.get("input"), str):
        return None
    near = closest(e["input"], re.findall(r"'([^']*)'", str(e.get("ctx", {}).get("expected", ""))))
    return near[0] if near else None


def _settle_unions(found: list[tuple[dict, _Where]], level: int = 0) -> list[tuple[dict, _Where]]:
    """One account per union: the branches the value's type matched, or one "expected A or B" line.

    pydantic reports every branch of a union ("expected a list" and "unknown key 'rtool'" for a
    mapping given where a list or a mapping may go); only the branch the value went into is news.
    Unions inside the kept branches are settled the same way, one level down.
    """
    groups: dict = {}
    for x in found:
        unions = x[1].unions
        if len(unions) > level:
            groups.setdefault((tuple(unions[:level]), unions[level][0]), []).append(x)
    if not groups:
        return found
    replace: dict[int, Any] = {}  # id of a reported error -> what stands in its place (None: dropped)
    for (_, root), mine in groups.items():
        deeper = {w.unions[level][1] for _, w in mine if len(w.path) > len(root)}
        for i, (e, w) in enumerate(mine):
            if deeper:  # the value's type fits these branches: the others' type mismatches are noise
                replace[id(mine[i])] = mine[i] if w.unions[level][1] in deeper else None
            elif all(x["type"] in _EXPECTED for x, _ in mine):  # no branch fits: one line for all
                merged = ({**e, "expected": _either(x for x, _ in mine)}, w)
                replace[id(mine[i])] = merged if i == 0 else None
            else:  # a value error (a Literal's choices, a validator) says more than "expected a mapping"
                replace[id(mine[i])] = mine[i] if e["type"] not in _EXPECTED else None
    settled = [replace.get(id(x), x) for x in found]
    return _settle_unions([x for x in settled if x is not None], level + 1)


def _either(errors: Any) -> str:
    """"a list or a mapping": each branch's expected type once, in order."""
    names = list(dict.fromkeys(_EXPECTED[e["type"]] for e in errors))
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def _message(e: dict) -> str:
    """pydantic's message in the recipe's words: "expected an integer, got 'many'"."""
    if e["type"] == "missing":
        return "required key is missing"
    expected, got = e.get("expected") or _EXPECTED.get(e["type"]), e.get("input")
    msg = e["msg"].removeprefix("Value error, ")
    if expected:
        return f"expected {expected}, got {got!r}"
    if msg.startswith("Input should be "):
        return f"expected {msg.removeprefix('Input should be ')}, got {got!r}"
    return msg


def _unknown_key(key: Any, parent: _Where) -> tuple[str, str | None]:
    """(message, suggestion) for a key the model at `parent` does not have: the nearest valid one."""
    options = list(dict.fromkeys(n for k in parent.types for m in _models_in(k) for n in m.model_fields))
    near = closest(str(key), options)
    valid = f"; valid keys: {', '.join(sorted(options))}" if options and not near else ""
    return f"unknown key '{key}'{valid}", near[0] if near else None


def from_validation_error(err: ValidationError, prefix: Path = (), model: type[BaseModel] | None = None) -> list[Problem]:
    """One Problem per thing wrong, at its key path under `prefix`; `model` (the validated class)
    tells keys from union-branch tags and gives the valid keys for a did-you-mean."""
    model = model or getattr(err, "_dlcli_model", None)
    found = [(e, _locate(model, tuple(e["loc"]))) for e in err.errors(include_url=False)]
    problems = []
    for e, where in _settle_unions(found):
        if e["type"] == "extra_forbidden":
            parent = _locate(model, tuple(e["loc"])[:-1])
            key = e["loc"][-1]
            if not prefix and len(where.path) > 1 and model is not None and key in model.model_fields:
                problems.append(Problem(where.path, f"unknown key '{key}' here: `{key}` belongs at the top level "
                                        f"of the recipe, beside data and model"))
                continue
            problems.append(Problem(prefix + where.path, *_unknown_key(key, parent)))
            continue
        problems.append(Problem(prefix + where.path, _message(e), _literal_suggestion(e)))
    return problems
