"""Safe YAML with line marks: every key path of a document mapped to "file:line:col".

Only yaml.SafeLoader is used, so a tag such as !!python/object is refused before anything is
constructed, let alone run.
"""
from __future__ import annotations

from pathlib import Path as FsPath
from typing import Any

import re

import yaml

from dlcli.errors import Path, Problem, RecipeError

Marks = dict  # key path -> "file:line:col"

# YAML 1.1 reads 1e-3 as a string; accept the exponent forms everyone writes (YAML 1.2 style).
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X)
# `${a.b}` is not valid in a flow mapping ({out: ${vars.width}}): it is swapped for the
# same-length `$(a.b)` before parsing, so marks keep their columns, and swapped back in values.
_REF = re.compile(r"\$\{([A-Za-z0-9_.\-]*)\}")
_PLACEHOLDER = re.compile(r"\$\(([A-Za-z0-9_.\-]*)\)")


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def _restore(value: Any, refs: set) -> Any:
    if isinstance(value, str) and "$(" in value:
        return _PLACEHOLDER.sub(lambda m: "${" + m.group(1) + "}" if m.group(1) in refs else m.group(0), value)
    return value


def safe_load(text: str) -> Any:
    """yaml.safe_load with the float rule above (for --set values)."""
    return yaml.load(text, Loader=_Loader)


def _where(source: str, node: yaml.Node) -> str:
    return f"{source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _walk(node: yaml.Node, loader: _Loader, source: str, path: Path, marks: Marks, refs: set) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, list) or isinstance(key, dict):
                raise yaml.constructor.ConstructorError(None, None, "a key must be a plain value", key_node.start_mark)
            marks[path + (key,)] = _where(source, key_node)
            out[key] = _walk(value_node, loader, source, path + (key,), marks, refs)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            marks[path + (i,)] = _where(source, item)
            items.append(_walk(item, loader, source, path + (i,), marks, refs))
        return items
    return _restore(loader.construct_object(node, deep=True), refs)


def _yaml_problem(err: yaml.YAMLError, source: str) -> Problem:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
    what = getattr(err, "problem", None) or str(err)
    if "python/" in str(err) or "could not determine a constructor" in str(err):
        what = f"this YAML tag is refused (recipes may not construct Python objects): {what}"
    return Problem((), f"malformed YAML: {what}", where=where)


def parse(text: str, source: str) -> tuple[Any, Marks]:
    """(data, marks) of one YAML document; a RecipeError locating the fault when malformed."""
    refs = set(_REF.findall(text))
    loader = _Loader(_REF.sub(lambda m: "$(" + m.group(1) + ")", text))
    marks: Marks = {}
    try:
        node = loader.get_single_node()
        data = _walk(node, loader, source, (), marks, refs) if node is not None else None
    except yaml.YAMLError as e:
        raise RecipeError([_yaml_problem(e, source)], source) from None
    finally:
        loader.dispose()
    return data, marks


def read(path: FsPath) -> tuple[Any, Marks]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError([Problem((), f"file not found: {path}")], str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise RecipeError([Problem((), f"cannot read {path}: {e}")], str(path)) from None
    return parse(text, str(path))


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True)
