"""Build one recipe document: `extends` bases, then `--set` overrides, then `${...}` references.

Every step keeps the marks (where each key came from) so later errors can be located, and
collects problems instead of stopping at the first.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path as FsPath
from typing import Any

import yaml

from dlcli.errors import Path, Problem, RecipeError, dotted
from dlcli.recipe.yamlio import Marks, read, safe_load
from dlcli.registry import closest

REF = re.compile(r"\$\{([^}]*)\}")


def merge(base: Any, over: Any) -> Any:
    """Deep-merge mappings; any other value (lists included) in `over` replaces the base's."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    return over


def load_with_bases(path: FsPath, chain: tuple = ()) -> tuple[dict, Marks]:
    """The document at `path` merged over its `extends` bases (relative to the file)."""
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(p.name for p in chain + (path,))
        raise RecipeError([Problem(("extends",), f"extends cycle: {cycle}")], str(chain[0]))
    data, marks = read(path)
    if not isinstance(data, dict):
        raise RecipeError([Problem((), "a recipe is a mapping of sections (data, model, train, ...)", where=str(path))], str(path))
    bases = data.pop("extends", None)
    bases = [bases] if isinstance(bases, str) else bases or []
    merged, all_marks = {}, {}
    for base in bases:
        if not isinstance(base, str):
            raise RecipeError([Problem(("extends",), f"expected a file path, got {base!r}", where=marks.get(("extends",)))], str(path))
        base_path = path.parent / base
        if not base_path.exists():
            raise RecipeError([Problem(("extends",), f"base recipe not found: {base_path}", where=marks.get(("extends",)))], str(path))
        b_data, b_marks = load_with_bases(base_path, chain + (path,))
        merged, all_marks = merge(merged, b_data), {**all_marks, **b_marks}
    return merge(merged, data), {**all_marks, **marks}


def parse_override(text: str) -> tuple[Path, Any]:
    """"train.optimizer.lr=1e-3" -> (("train", "optimizer", "lr"), 0.001); ValueError if malformed."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or any(not p for p in key.strip().split(".")):
        raise ValueError(f"an override is KEY.PATH=VALUE, got '{text}'")
    try:
        value = safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ValueError(f"malformed value '{raw}' in '{text}': {getattr(e, 'problem', e)}") from None
    return tuple(int(p) if p.isdigit() else p for p in key.strip().split(".")), value


def set_path(data: dict, path: Path, value: Any, strict_keys: tuple = ("vars",)) -> None:
    """Set data[path] = value, creating mappings on the way; ValueError for a path that cannot exist.
    Keys of free-form sections (`vars`) must already exist: a typo there would otherwise be silent."""
    node: Any = data
    for i, part in enumerate(path[:-1]):
        node = _step(node, part, path[: i + 1])
    last = path[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or last >= len(node):
            raise ValueError(f"{dotted(path)}: no item {last} in a list of {len(node)}")
        node[last] = value
    elif isinstance(node, dict):
        if path[0] in strict_keys and len(path) == 2 and last not in node:
            near = closest(str(last), list(node))
            hint = f"; did you mean '{path[0]}.{near[0]}'?" if near else ""
            raise ValueError(f"{dotted(path)}: no such var in the recipe{hint}")
        node[last] = value
    else:
        raise ValueError(f"{dotted(path[:-1])} is {node!r}, not a mapping: cannot set {last}")


def _step(node: Any, part: Any, where: Path) -> Any:
    if isinstance(node, list):
        if not isinstance(part, int) or part >= len(node):
            raise ValueError(f"{dotted(where)}: no item {part} in a list of {len(node)}")
        return node[part]
    if not isinstance(node, dict):
        raise ValueError(f"{dotted(where[:-1])} is {node!r}, not a mapping")
    if part not in node:
        node[part] = {}
    return node[part]


def apply_overrides(data: dict, marks: Marks, overrides: list[str]) -> list[Problem]:
    problems = []
    for text in overrides:
        try:
            path, value = parse_override(text)
            set_path(data, path, value)
        except ValueError as e:
            problems.append(Problem((), str(e), where=f"--set {text}"))
            continue
        for key in [k for k in marks if k[: len(path)] == path]:
            del marks[key]
        marks[path] = f"--set {text}"
    return problems


def lookup(data: Any, path: Path) -> Any:
    node = data
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            raise KeyError(part)
    return node


class _Interpolator:
    def __init__(self, data: dict):
        self.data, self.problems, self.active = data, [], set()

    def ref(self, expr: str, at: Path) -> Any:
        path = tuple(int(p) if p.isdigit() else p for p in expr.strip().split("."))
        if path in self.active:
            raise ValueError(f"reference cycle through ${{{expr}}}")
        try:
            value = lookup(self.data, path)
        except KeyError as e:
            raise ValueError(self._unknown(expr, path, e.args[0])) from None
        self.active.add(path)
        try:
            return self.value(copy.deepcopy(value), at)
        finally:
            self.active.discard(path)

    def _unknown(self, expr: str, path: Path, missing: Any) -> str:
        parent = path[: path.index(missing)] if missing in path else ()
        try:
            options = list(lookup(self.data, parent)) if parent else list(self.data)
        except (KeyError, TypeError):
            options = []
        near = closest(str(missing), [str(o) for o in options])
        hint = f"; did you mean '${{{'.'.join(map(str, parent + (near[0],)))}}}'?" if near else ""
        return f"unknown reference ${{{expr}}}{hint}"

    def value(self, v: Any, at: Path) -> Any:
        if isinstance(v, dict):
            return {k: self.value(x, at + (k,)) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x, at + (i,)) for i, x in enumerate(v)]
        if not isinstance(v, str) or "${" not in v:
            return v
        whole = REF.fullmatch(v.strip())
        if whole:  # a whole-string reference keeps the referenced type (int, list, ...)
            return self.ref(whole.group(1), at)
        return REF.sub(lambda m: str(self.ref(m.group(1), at)), v)


def interpolate(data: dict) -> tuple[dict, list[Problem]]:
    """Resolve every ${path} (vars or any other key) in place of its value; problems located by key path."""
    interp = _Interpolator(data)
    out = {}
    for key, v in data.items():
        out[key] = _interpolate_tree(interp, v, (key,))
    return out, interp.problems


def _interpolate_tree(interp: _Interpolator, v: Any, at: Path) -> Any:
    if isinstance(v, dict):
        return {k: _interpolate_tree(interp, x, at + (k,)) for k, x in v.items()}
    if isinstance(v, list):
        return [_interpolate_tree(interp, x, at + (i,)) for i, x in enumerate(v)]
    try:
        return interp.value(v, at)
    except ValueError as e:
        interp.problems.append(Problem(at, str(e)))
        return v


COMPONENTS = {"optimizer": "adam", "schedule": "constant", "loss": None}


def expand_components(data: dict) -> None:
    """`optimizer: adam` -> `{name: adam}` (and the default when absent), so that
    `--set train.optimizer.lr=0.1` and search paths reach a component's arguments."""
    train = data.setdefault("train", {}) if isinstance(data.get("train", {}), dict) else None
    if train is None:
        return
    for key, default in COMPONENTS.items():
        value = train.get(key, default)
        if isinstance(value, str):
            train[key] = {"name": value}


def compose(path: FsPath, overrides: list[str] = ()) -> tuple[dict, Marks, list[Problem]]:
    """(document, marks, problems) of a recipe file with its bases, overrides and references."""
    data, marks = load_with_bases(FsPath(path))
    expand_components(data)
    problems = apply_overrides(data, marks, list(overrides))
    data, more = interpolate(data)
    return data, marks, problems + more
