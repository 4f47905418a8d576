"""Build one recipe document: `extends` bases, then `--set` overrides, then `${...}` references.

Every step keeps the marks (where each key came from) so later errors can be located, and
collects problems instead of stopping at the first. One Budget (dlcli.recipe.limits) is shared
by the files and values of a composition, so no combination of them escapes the limits.
"""
from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any, Optional

from dlcli.errors import Path, Problem, RecipeError, dotted
from dlcli.recipe import limits, yamlio
from dlcli.recipe.interpolate import interpolate, key_part
from dlcli.recipe.limits import Budget, LimitExceeded
from dlcli.recipe.yamlio import Marks, safe_load
from dlcli.recipe.yamlbuild import short
from dlcli.registry import closest


def merge(base: Any, over: Any) -> Any:
    """Deep-merge mappings; any other value (lists included) in `over` replaces the base's."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    return over


@dataclass
class _Walk:
    """One composition's way through `extends`: the budget its files share, the files already
    merged (a base reached twice through a diamond is read once) and the warnings they gave."""

    budget: Budget
    loaded: dict = field(default_factory=dict)  # resolved path -> (data, marks)
    warnings: list = field(default_factory=list)


def _fail(message: str, where: Optional[str], source: FsPath, path: Path = ("extends",)) -> RecipeError:
    return RecipeError([Problem(path, message, where=where)], str(source))


def _entries(value: Any, marks: Marks, path: FsPath) -> list[tuple[str, Optional[str]]]:
    """(base, where it is written) for each entry of `extends`; every bad entry in one error."""
    if value is None:
        return []
    if isinstance(value, str):
        return [(value, marks.get(("extends",)))]
    if not isinstance(value, list):
        raise _fail(f"expected a file path or a list of file paths, got {short(repr(value))}",
                    marks.get(("extends",)), path)
    bad = [Problem(("extends", i), f"expected a file path, got {short(repr(v))}", where=marks.get(("extends", i)))
           for i, v in enumerate(value) if not isinstance(v, str) or not v.strip()]
    if bad:
        raise RecipeError(bad, str(path))
    return [(v, marks.get(("extends", i))) for i, v in enumerate(value)]


def _base_file(path: FsPath, name: str, where: Optional[str]) -> FsPath:
    """The regular file an `extends` entry names (relative to `path`), resolved."""
    candidate = path.parent / name
    shown = short(str(candidate), 200)
    try:
        mode = candidate.stat().st_mode
        if stat.S_ISDIR(mode):
            raise _fail(f"base recipe {shown} is a directory; extends names a recipe file", where, path)
        if not stat.S_ISREG(mode):
            raise _fail(f"base recipe {shown} is not a regular file", where, path)
        return candidate.resolve()
    except FileNotFoundError:
        raise _fail(f"base recipe not found: {shown}", where, path) from None
    except (OSError, ValueError, RuntimeError) as e:  # a name too long, a NUL byte, a symlink loop
        raise _fail(f"cannot read base recipe {shown}: {getattr(e, 'strerror', None) or e}", where, path) from None


def _document(path: FsPath, walk: _Walk, at: Optional[str]) -> tuple[dict, Marks]:
    """(data, marks) of one file, which must hold a mapping; `at` is where a base was named."""
    doc = yamlio.load(path, walk.budget)
    walk.warnings += doc.warnings
    if not isinstance(doc.data, dict):
        held = "nothing" if doc.data is None else f"a {type(doc.data).__name__}"
        message = f"a recipe is a mapping of sections (data, model, train, ...); {short(str(path), 200)} holds {held}"
        raise _fail(message, at or f"{path}:1:1", path, ())
    return doc.data, doc.marks


def load_with_bases(path: FsPath, chain: tuple = (), walk: Optional[_Walk] = None,
                    at: Optional[str] = None) -> tuple[dict, Marks]:
    """The document at `path` merged over its `extends` bases (relative to the file)."""
    walk = walk or _Walk(Budget())
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(p.name for p in chain + (path,))
        raise RecipeError([Problem(("extends",), f"extends cycle: {cycle}", where=at)], str(chain[0]))
    if path in walk.loaded:
        return walk.loaded[path]
    data, marks = _document(path, walk, at)
    merged, all_marks = {}, {}
    for name, where in _entries(data.pop("extends", None), marks, path):
        base = _base_file(path, name, where)
        try:
            walk.budget.spend_load()
            if len(chain) + 2 > limits.MAX_EXTENDS_DEPTH:
                raise LimitExceeded("MAX_EXTENDS_DEPTH", f"the `extends` chain is {len(chain) + 2} files long")
        except LimitExceeded as e:
            raise _fail(e.message, where, path) from None
        b_data, b_marks = load_with_bases(base, chain + (path,), walk, where)
        merged, all_marks = merge(merged, b_data), {**all_marks, **b_marks}
    walk.loaded[path] = merge(merged, data), {**all_marks, **marks}
    return walk.loaded[path]


def parse_override(text: str, budget: Optional[Budget] = None) -> tuple[Path, Any]:
    """"train.optimizer.lr=1e-3" -> (("train", "optimizer", "lr"), 0.001); ValueError if malformed."""
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not key.strip() or any(not p for p in parts):
        raise ValueError(f"an override is KEY.PATH=VALUE, got '{short(text)}'")
    try:
        if len(parts) > limits.MAX_DEPTH:
            raise LimitExceeded("MAX_DEPTH", f"the key path has {len(parts)} parts")
        if len(raw) > limits.MAX_DOCUMENT_BYTES:
            raise LimitExceeded("MAX_DOCUMENT_BYTES", f"the value has {len(raw):,} characters")
        value = safe_load(raw, "--set", budget, depth=len(parts)) if raw.strip() else None
    except LimitExceeded as e:
        raise ValueError(e.message) from None
    except RecipeError as e:
        why = "; ".join(p.message.removeprefix("malformed YAML: ") for p in e.problems)
        raise ValueError(f"malformed value '{short(raw, 40)}': {why}") from None
    return tuple(key_part(p) for p in parts), value


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
        raise ValueError(f"{dotted(path[:-1])} is {short(repr(node))}, not a mapping: cannot set {short(str(last))}")


def _step(node: Any, part: Any, where: Path) -> Any:
    if isinstance(node, list):
        if not isinstance(part, int) or part >= len(node):
            raise ValueError(f"{dotted(where)}: no item {part} in a list of {len(node)}")
        return node[part]
    if not isinstance(node, dict):
        raise ValueError(f"{dotted(where[:-1])} is {short(repr(node))}, not a mapping")
    if part not in node:
        node[part] = {}
    return node[part]


def apply_overrides(data: dict, marks: Marks, overrides: list[str], budget: Optional[Budget] = None) -> list[Problem]:
    """Apply each `--set KEY=VALUE`; a problem (located at the --set) for each that cannot apply."""
    problems = []
    for text in overrides:
        where = f"--set {short(text, 80)}"
        try:
            path, value = parse_override(text, budget)
            set_path(data, path, value)
        except ValueError as e:
            problems.append(Problem((), str(e), where=where))
            continue
        for key in [k for k in marks if k[: len(path)] == path]:
            del marks[key]
        for n in range(1, len(path) + 1):  # mappings the --set created come from it too
            marks.setdefault(path[:n], where)
        marks[path] = where
    return problems


COMPONENTS = {"optimizer": None, "schedule": "constant", "loss": None}  # the optimizer's default is the task's


def expand_components(data: dict) -> None:
    """`optimizer: adam` -> `{name: adam}` (and the default when absent), so that
    `--set train.optimizer.lr=0.1` and search paths reach a component's arguments; an optimizer
    left out takes the task's default role by role (recipe/parts.py), arguments set here merged in."""
    train = data.setdefault("train", {}) if isinstance(data.get("train", {}), dict) else None
    if train is None:
        return
    for key, default in COMPONENTS.items():
        value = train.get(key, default)
        if isinstance(value, str):
            train[key] = {"name": value}


def compose(path: FsPath, overrides: list[str] = (),
            warnings: Optional[list] = None) -> tuple[dict, Marks, list[Problem]]:
    """(document, marks, problems) of a recipe file with its bases, overrides and references;
    what reads but is not portable YAML is appended to `warnings` (located strings)."""
    walk = _Walk(Budget())
    data, marks = load_with_bases(FsPath(path), walk=walk)
    if warnings is not None:
        warnings.extend(dict.fromkeys(walk.warnings))  # a base reached twice warns once
    expand_components(data)
    problems = apply_overrides(data, marks, list(overrides), walk.budget)
    data, more = interpolate(data)
    return data, marks, problems + more
