"""The import graph of dlcli/ runs downhill: no cycles, no import of a higher layer.

Layers, highest first (an import may go to its own layer or any lower one):
cli -> workflows -> search, export, repro, analysis, recipe checking, vocab -> engine
-> tasks, nn, data -> report, base recipe modules -> base modules. Imports inside
functions count: they are how dlcli imports lazily, and a lazy upward import is
still an upward import.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dlcli"

LAYERS: dict[str, int] = {
    "dlcli.cli": 0,
    "dlcli.__main__": 0,
    "dlcli.workflows": 1,
    "dlcli.search": 2,
    "dlcli.export": 2,
    "dlcli.repro": 2,
    "dlcli.analysis": 2,
    "dlcli.analysis.regions": 4,  # a function of a network alone, which the engine's regions callback counts with
    "dlcli.recipe.check": 2,
    "dlcli.recipe.jsonschema": 2,
    "dlcli.recipe.parts": 2,
    "dlcli.vocab": 2,
    "dlcli.engine": 3,
    "dlcli.tasks": 4,
    "dlcli.nn": 4,
    "dlcli.data": 4,
    "dlcli.report": 5,
    "dlcli.recipe": 5,
    "dlcli.registry": 6,
    "dlcli.errors": 6,
    "dlcli.fsio": 6,
    "dlcli.components": 6,
    "dlcli.grammar": 6,
    "dlcli.runtime": 6,
    "dlcli.opsets": 6,
    "dlcli": 6,
}


def module_name(path: Path) -> str:
    """The dotted name of a file under dlcli/ (a package's __init__ is the package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of `name` that is a dlcli module (an attribute import names its module)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def statements(nodes: list) -> Iterator[ast.AST]:
    """Every statement, nested ones included (in functions, classes, if/try/with/match bodies).
    An import is always a statement, so expressions need no visit: a tenth of ast.walk's nodes."""
    for node in nodes:
        yield node
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(node, name, None)
            if isinstance(inner, list):
                yield from statements(inner)


def package_of(path: Path) -> str:
    """The package a file's relative imports start from (a package's __init__: the package itself)."""
    return ".".join(path.relative_to(ROOT).parent.parts)


def imported_from(node: ast.ImportFrom, path: Path) -> str:
    """The absolute module of `from X import ...`, relative forms (`from .x import y`) included."""
    if node.level == 0:
        return node.module or ""
    base = package_of(path).split(".")
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path, modules: dict[str, Path]) -> list[tuple[int, str]]:
    return imports_in(path.read_text(encoding="utf-8"), path, modules)


def imports_in(source: str, path: Path, modules: dict[str, Path]) -> list[tuple[int, str]]:
    """(line, dlcli module) for every import in the source of `path`, at any depth; each pair once."""
    found: dict[tuple[int, str], None] = {}
    for node in statements(ast.parse(source, str(path)).body):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # `from dlcli.x import y` where y is a submodule imports dlcli.x.y.
            names = [f"{imported_from(node, path)}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "dlcli" or name.startswith("dlcli."):
                target = resolve(name, modules)
                if target is not None:
                    found[(node.lineno, target)] = None
    return sorted(found)


def layer_of(module: str) -> int | None:
    """The layer of the longest table prefix of `module`, None when the table lacks it.

    `dlcli` itself (its __init__) is an exact entry, not a prefix that catches every module.
    """
    if module == "dlcli":
        return LAYERS[module]
    name = module
    while "." in name:
        if name in LAYERS:
            return LAYERS[name]
        name = name.rpartition(".")[0]
    return None


@lru_cache(maxsize=1)
def import_graph() -> tuple[dict[str, Path], dict[str, list[tuple[int, str]]]]:
    modules = all_modules()
    return modules, {name: imports_of(path, modules) for name, path in modules.items()}


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per back edge met by a depth-first walk (enough to name every cyclic knot)."""
    cycles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return cycles


def test_every_module_has_a_layer():
    missing = [f"put {name} in a layer" for name in all_modules() if layer_of(name) is None]
    assert not missing, "\n".join(missing)


def test_no_upward_imports():
    modules, graph = import_graph()
    upward = []
    for name, found in graph.items():
        here = layer_of(name)
        for line, target in found:
            there = layer_of(target)
            if here is not None and there is not None and there < here:
                rel = modules[name].relative_to(ROOT).as_posix()
                upward.append(f"{rel}:{line} imports {target} (layer {there} above layer {here})")
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    _, graph = import_graph()
    edges = {name: {t for _, t in found if t != name} for name, found in graph.items()}
    cycles = find_cycles(edges)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import dlcli.engine.fit\n", "dlcli.engine.fit"),
        ("from dlcli.engine import fit\n", "dlcli.engine.fit"),
        ("from dlcli.engine.fit import Fit\n", "dlcli.engine.fit"),
        ("def f():\n    from dlcli.engine import fit\n", "dlcli.engine.fit"),
        ("from dlcli.engine import nothing_here\n", "dlcli.engine"),
        ("from . import fit\n", "dlcli.engine.fit"),
        ("from ..engine.fit import Fit\n", "dlcli.engine.fit"),
        ("try:\n    pass\nexcept ImportError:\n    import dlcli.engine.fit as f\n", "dlcli.engine.fit"),
    ],
)
def test_imports_are_resolved_to_modules(source, expected):
    """The scanner sees lazy imports and resolves `from pkg import submodule` (or it could pass blindly)."""
    path = PACKAGE / "engine" / "probe.py"  # a name only: the source is given
    modules = {"dlcli": path, "dlcli.engine": path, "dlcli.engine.fit": path}
    assert [t for _, t in imports_in(source, path, modules)] == [expected]


def test_cycle_finder_finds_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(edges) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_layer_table_prefers_the_longest_prefix():
    assert layer_of("dlcli.recipe.check") == 2
    assert layer_of("dlcli.recipe.schema") == 5
    assert layer_of("dlcli.cli.train") == 0
    assert layer_of("dlcli.nothing") is None
