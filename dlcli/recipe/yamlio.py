"""Safe YAML with line marks: every key path of a document mapped to "file:line:col".

Only yaml.SafeLoader is used, so a tag such as !!python/object is refused before anything is
constructed, let alone run.
"""
from __future__ import annotations

from pathlib import Path as FsPath
from typing import Any

import yaml

from dlcli.errors import Path, Problem, RecipeError

Marks = dict  # key path -> "file:line:col"


class _Loader(yaml.SafeLoader):
    pass


def _where(source: str, node: yaml.Node) -> str:
    return f"{source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _walk(node: yaml.Node, loader: _Loader, source: str, path: Path, marks: Marks) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, list) or isinstance(key, dict):
                raise yaml.constructor.ConstructorError(None, None, "a key must be a plain value", key_node.start_mark)
            marks[path + (key,)] = _where(source, key_node)
            out[key] = _walk(value_node, loader, source, path + (key,), marks)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            marks[path + (i,)] = _where(source, item)
            items.append(_walk(item, loader, source, path + (i,), marks))
        return items
    return loader.construct_object(node, deep=True)


def _yaml_problem(err: yaml.YAMLError, source: str) -> Problem:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
    what = getattr(err, "problem", None) or str(err)
    if "python/" in str(err) or "could not determine a constructor" in str(err):
        what = f"this YAML tag is refused (recipes may not construct Python objects): {what}"
    return Problem((), f"malformed YAML: {what}", where=where)


def parse(text: str, source: str) -> tuple[Any, Marks]:
    """(data, marks) of one YAML document; a RecipeError locating the fault when malformed."""
    loader = _Loader(text)
    marks: Marks = {}
    try:
        node = loader.get_single_node()
        data = _walk(node, loader, source, (), marks) if node is not None else None
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
