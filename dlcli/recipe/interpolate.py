"""`${path}` references: each path resolved once, within the limits on length, depth and size.

A reference resolves to the value at its path, itself interpolated. Resolving each path once and
copying the result keeps a chain of doubling references (`b: ${a}${a}`, `c: ${b}${b}`, ...)
linear; counting what the copies hold and how long the strings grow stops the bombs among them.
"""
from __future__ import annotations

import copy
import re
from typing import Any

from dlcli.errors import Path, Problem
from dlcli.recipe import limits
from dlcli.recipe.limits import LimitExceeded
from dlcli.registry import closest

REF = re.compile(r"\$\{([^}]*)\}")


class _Stop(ValueError):
    """A limit was crossed: one problem says so and interpolation stops there."""


def key_part(text: str) -> Any:
    """"3" -> 3 (a list index); anything else stays a key (only ASCII digits make an index)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else text


def key_path(expr: str) -> Path:
    return tuple(key_part(p) for p in expr.strip().split("."))


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


def _size(v: Any) -> int:
    if isinstance(v, dict):
        return 1 + sum(1 + _size(x) for x in v.values())
    if isinstance(v, list):
        return 1 + sum(_size(x) for x in v)
    return 1


def _height(v: Any) -> int:
    if isinstance(v, (dict, list)):
        return 1 + max(map(_height, v.values() if isinstance(v, dict) else v), default=0)
    return 0


class _Interpolator:
    def __init__(self, data: dict):
        self.data, self.problems, self.stopped = data, [], False
        self.active: dict = {}  # the chain of paths being resolved -> the longest chain below each
        self.done: dict = {}    # path -> (value, size, height, chain length)
        self.failed: dict = {}  # path -> why it cannot resolve
        self.spent = 0          # values copied in place of references

    def ref(self, expr: str, at: Path) -> Any:
        path = key_path(expr)
        if path in self.failed:
            raise ValueError(self.failed[path])
        if path not in self.done:
            self.done[path] = self.resolve(expr, path, at)
        value, size, height, chain = self.done[path]
        self.below(chain)
        if len(at) + height > limits.MAX_DEPTH:
            raise _Stop(LimitExceeded("MAX_DEPTH", f"${{{expr}}} nests values {len(at) + height} levels deep").message)
        self.spent += size
        if self.spent > limits.MAX_NODES:
            raise _Stop(LimitExceeded("MAX_NODES", f"references expand the recipe by {self.spent:,} values").message)
        return copy.deepcopy(value) if height else value

    def below(self, chain: int) -> None:
        """Record a resolved chain under the path being resolved: chains are as long in any order."""
        if self.active:
            last = next(reversed(self.active))
            self.active[last] = max(self.active[last], chain)
        if len(self.active) + chain > limits.MAX_REFERENCE_DEPTH:
            raise _Stop(LimitExceeded("MAX_REFERENCE_DEPTH", f"a chain of {len(self.active) + chain} references "
                                      "(each value a reference to the next)").message)

    def resolve(self, expr: str, path: Path, at: Path) -> tuple[Any, int, int, int]:
        if path in self.active:
            raise ValueError(f"reference cycle through ${{{expr}}}")
        self.below(1)
        try:
            raw = lookup(self.data, path)
        except KeyError as e:
            self.failed[path] = self._unknown(expr, path, e.args[0])
            raise ValueError(self.failed[path]) from None
        self.active[path] = 0
        try:
            value = self.value(raw, at)
        except _Stop:
            raise
        except ValueError as e:
            self.failed[path] = str(e)
            raise
        finally:
            chain = 1 + self.active.pop(path)
        return value, _size(value), _height(value), chain

    def _unknown(self, expr: str, path: Path, missing: Any) -> str:
        parent = path[: path.index(missing)] if missing in path else ()
        try:
            node = lookup(self.data, parent)
        except KeyError:
            node = None
        options = [str(o) for o in node] if isinstance(node, dict) else []
        near = closest(str(missing), options) if len(str(missing)) <= 100 else []
        hint = f"; did you mean '${{{'.'.join(map(str, parent + (near[0],)))}}}'?" if near else ""
        return f"unknown reference ${{{expr}}}{hint}"

    def value(self, v: Any, at: Path) -> Any:
        if isinstance(v, (dict, list)) and len(at) >= limits.MAX_DEPTH:  # before recursing, not after
            raise _Stop(LimitExceeded("MAX_DEPTH", f"references nest values {len(at) + 1} levels deep").message)
        if isinstance(v, dict):
            return {k: self.value(x, at + (k,)) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x, at + (i,)) for i, x in enumerate(v)]
        if not isinstance(v, str) or "${" not in v:
            return v
        whole = REF.fullmatch(v.strip())
        if whole:  # a whole-string reference keeps the referenced type (int, list, ...)
            return self.ref(whole.group(1), at)
        return self.text(v, at)

    def text(self, v: str, at: Path) -> str:
        """A string with references inside it; refused once it grows past MAX_STRING_CHARS."""
        length = len(v)

        def piece(m: re.Match) -> str:
            nonlocal length
            s = str(self.ref(m.group(1), at))
            length += len(s) - len(m.group(0))
            if length > limits.MAX_STRING_CHARS:
                raise _Stop(LimitExceeded("MAX_STRING_CHARS", f"interpolation makes a string of {length:,} "
                                          "characters or more").message)
            return s

        return REF.sub(piece, v)


def interpolate(data: dict) -> tuple[dict, list[Problem]]:
    """Resolve every ${path} (vars or any other key) in place of its value; problems located by key path."""
    interp = _Interpolator(data)
    out = {key: _tree(interp, v, (key,)) for key, v in data.items()}
    return out, interp.problems


def _tree(interp: _Interpolator, v: Any, at: Path) -> Any:
    if isinstance(v, dict):
        return {k: _tree(interp, x, at + (k,)) for k, x in v.items()}
    if isinstance(v, list):
        return [_tree(interp, x, at + (i,)) for i, x in enumerate(v)]
    if interp.stopped:  # past a limit, the rest stays as written: one problem says why
        return v
    try:
        return interp.value(v, at)
    except _Stop as e:
        interp.stopped = True
        interp.problems.append(Problem(at, str(e)))
    except ValueError as e:
        interp.problems.append(Problem(at, str(e)))
    return v
