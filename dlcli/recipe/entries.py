"""One registry entry as a recipe writes it (`adam`, `{name: adam, lr: 0.01}`), checked against
its registry: the name, then the arguments against the entry's own model. Every recipe part that
names an entry (the source, the task, losses, optimizers, schedules, callbacks) is checked here.
"""
from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError

from dlcli.components import AmbiguousName, split_component
from dlcli.errors import Path, Problem
from dlcli.recipe.problems import from_validation_error
from dlcli.registry import Registry, UnknownName


def check_component(registry: Registry, value: Any, path: Path, problems: list[Problem],
                    split: Any = split_component, key: str = "name") -> tuple[Any, Any]:
    """(entry, parsed args) of `name` or `{name: ..., args}`; (None, None) after a problem.
    `key` is the mapping key that names the entry (data.source writes `type`)."""
    try:
        name, args = split(value)
        entry = registry.get(name)()
    except UnknownName as e:
        named = [k for k in ("name", "type") if isinstance(value, dict) and k in value][:1]
        problems.append(Problem(path + tuple(named), e.message, e.suggestion))
        return None, None
    except AmbiguousName as e:
        problems.append(Problem(path, str(e)))
        return None, None
    except ValueError:
        problems.append(unnamed(registry, value, path, key))
        return None, None
    try:
        return entry, entry.Args(**args)
    except ValidationError as e:
        problems.extend(from_validation_error(e, path, entry.Args))
        return entry, None


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _arguments(registry: Registry) -> set[str]:
    """Every argument name of every entry (entries without an argument model have none)."""
    models = [getattr(registry.get(name), "Args", None) for name in registry.names()]
    return {key for m in models if m is not None for key in getattr(m, "model_fields", {})}


def unnamed(registry: Registry, value: Any, path: Path, key: str = "name") -> Problem:
    """Why `value` names no entry of `registry`: a mistyped `name` key, none at all, or the wrong type."""
    kind = registry.kind
    if not isinstance(value, dict):
        return Problem(path, f"expected {_a(kind)} name or a mapping with a `{key}` key, got {value!r}")
    if key in value:  # there, but not a string
        return Problem(path + (key,), f"expected {_a(kind)} name, got {value[key]!r}")
    # only keys that are no entry's argument, and 0.7, not closest()'s 0.5: `paht` is no mistyped `type`
    typo = difflib.get_close_matches(key, [k for k in value if isinstance(k, str) and k not in _arguments(registry)],
                                     1, 0.7)
    if typo:
        return Problem(path + (typo[0],), f"unknown key '{typo[0]}'", key)
    return Problem(path, f"a mapping here needs a `{key}` key naming {_a(kind)}: one of {', '.join(registry.names())}")
