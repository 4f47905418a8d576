"""Safe YAML with line marks: every key path of a document mapped to "file:line:col".

Reading goes through dlcli.recipe.yamlbuild, which refuses every tag beyond the standard ones
(so !!python/object is refused before anything is constructed, let alone run) and keeps within
the limits of dlcli.recipe.limits. This module reads files: only regular files, at most
MAX_DOCUMENT_BYTES, UTF-8 (or UTF-16/32 with a byte order mark, as the YAML spec allows).
"""
from __future__ import annotations

import codecs
import stat
from pathlib import Path as FsPath
from typing import Any, Optional

import yaml

from dlcli.errors import Problem, RecipeError
from dlcli.recipe.limits import MAX_DOCUMENT_BYTES, Budget, LimitExceeded
from dlcli.recipe.yamlbuild import Document, build, line_col, short

Marks = dict  # key path -> "file:line:col"

# UTF-32's little-endian mark starts with UTF-16's: look for it first.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def load_text(text: str, source: str, budget: Optional[Budget] = None, depth: int = 0) -> Document:
    """The document in `text`; a RecipeError listing every problem, each located, otherwise."""
    doc = build(text, source, budget, depth)
    if doc.problems:
        raise RecipeError(doc.problems, source)
    return doc


def safe_load(text: str, source: str = "<text>", budget: Optional[Budget] = None, depth: int = 0) -> Any:
    """The plain data of a YAML value (a --set VALUE, a run's recipe.yaml): safe, within the limits."""
    return load_text(text, source, budget, depth).data


def parse(text: str, source: str) -> tuple[Any, Marks]:
    """(data, marks) of one YAML document; a RecipeError locating the fault when malformed."""
    doc = load_text(text, source)
    return doc.data, doc.marks


def _fail(message: str, source: str, at: str = "") -> RecipeError:
    return RecipeError([Problem((), message, where=f"{source}:{at}" if at else source)], source)


def read_bytes(path: FsPath, budget: Budget) -> bytes:
    """The bytes of a regular file, refusing more than what is left of MAX_DOCUMENT_BYTES."""
    shown = short(str(path), 200)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise _fail(f"{shown} is a directory, not a recipe file", shown)
        if not stat.S_ISREG(info.st_mode):
            raise _fail(f"{shown} is not a regular file (a recipe is a YAML file)", shown)
        with path.open("rb") as f:  # never more than the limit, whatever the file claims to be
            raw = f.read(max(MAX_DOCUMENT_BYTES - budget.bytes, 0) + 1)
    except FileNotFoundError:
        raise _fail(f"file not found: {shown}", shown) from None
    except OSError as e:
        raise _fail(f"cannot read {shown}: {e.strerror or e}", shown) from None
    try:
        budget.spend_bytes(len(raw))
    except LimitExceeded as e:
        cut = raw[: max(MAX_DOCUMENT_BYTES - (budget.bytes - len(raw)), 0)].decode("utf-8", "replace")
        raise _fail(e.message, shown, line_col(cut, len(cut))) from None
    return raw


def decode(raw: bytes, source: str) -> str:
    """Text of a file: UTF-8, or UTF-16/32 after their byte order mark; undecodable bytes located."""
    encoding = next((codec for bom, codec in _BOMS if raw.startswith(bom)), "utf-8")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        before = raw[: e.start].decode(encoding, "replace")
        message = (f"byte 0x{raw[e.start]:02x} is not {encoding.removesuffix('-sig').upper()} text "
                   "(binary data, or a file saved in another encoding?)")
        raise _fail(message, source, line_col(before, len(before))) from None


def load(path: FsPath, budget: Optional[Budget] = None) -> Document:
    """The document in the file at `path`, within the limits (shared through `budget`)."""
    budget = budget or Budget()
    text = decode(read_bytes(path, budget), str(path))
    return load_text(text, str(path), budget)


def read(path: FsPath) -> tuple[Any, Marks]:
    """(data, marks) of a YAML file; a RecipeError, located, when it cannot be read."""
    doc = load(FsPath(path))
    return doc.data, doc.marks


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True)
