"""Text sources: a file or folder of UTF-8 text, and two corpora that ship with every Python.

A corpus is one string (files in sorted order, joined with "\\n"). Its characters are cut into
data.split's parts by the fractions, in order (train first), so no window a language model reads
spans two parts; the tokenizer is trained on the train part alone, and each part is encoded on
its own, so no token crosses a boundary either. Each part's ids are then cut into rows of C
tokens (C = min(256, the smallest non-empty part's token count)), dropping each part's last
partial row. The parts are the dataset's `given` split and `info.contiguous` is set: the source
made the split, data/partition.py hands it back.

`info` builds what `load` builds (the encoding is cached for the same text, split and
tokenizer), so validation and training cannot disagree.
"""
from __future__ import annotations

import hashlib
import json
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
from pydantic import Field, field_validator, model_validator

from dlcli.components import Strict
from dlcli.data import tokenize
from dlcli.data.base import DataInfo, Dataset, LabelKind, Source, SourceArgs, SourceError, sources, unlabelled
from dlcli.data.splits import PARTS, split_sizes

MAX_CHUNK = 256  # tokens per row at most
DEFAULT_SPLIT = {"train": 0.8, "val": 0.1, "test": 0.1}  # recipe.schema.Split's defaults (data/ cannot import recipe)
STDLIB_SKIP = {"test", "tests", "idlelib", "site-packages", "dist-packages", "__pycache__"}


class TokenizerSpec(Strict):
    type: Literal["char", "bpe"] = Field("char", description="char: one token per character; bpe: byte-level BPE "
                                         "(needs the `tokenizers` package)")
    vocab: Optional[int] = Field(None, ge=256, description="bpe: vocabulary size (default 2000; at least the "
                                 "256 bytes)")

    @model_validator(mode="after")
    def _vocab_is_bpe(self) -> "TokenizerSpec":
        if self.type == "char" and self.vocab is not None:
            raise ValueError("a char tokenizer's vocabulary is the train text's characters: leave out vocab")
        return self


class TokenizedArgs(SourceArgs):
    tokenizer: TokenizerSpec = Field(default_factory=TokenizerSpec, description="char (default) or "
                                     "{type: bpe, vocab: 2000}, trained on the train split's text")

    @field_validator("tokenizer", mode="before")
    @classmethod
    def _named(cls, v: Any) -> Any:
        return {"type": v} if isinstance(v, str) else v


class TextArgs(TokenizedArgs):
    path: str = Field(description="a UTF-8 text file, or a folder of them, relative to the recipe's folder")
    glob: str = Field("*.txt", description="in a folder: the files to read (sorted), e.g. **/*.md for subfolders too")


class StdlibArgs(TokenizedArgs):
    max_chars: int = Field(2_000_000, ge=1, description="keep the first source files, in sorted order, whose "
                           "characters stay within this many")


@dataclass
class Corpus:
    """The text, the files it came from and how errors name it (`where`, the argument `key`)."""

    text: str
    files: list[str]
    where: str
    key: Optional[str]


@dataclass
class Encoded:
    tokenizer: Any  # tokenize.Tokenizer
    ids: dict[str, np.ndarray]  # part -> int64 token ids
    chars: dict[str, int]
    unseen: dict[str, int]


# ------------------------------------------------------------------------------- reading


def read_utf8(path: Path, name: str, key: str) -> str:
    """A file's text, strict UTF-8 (a leading byte-order mark dropped); a bad byte is an error
    that names the file and the byte's offset."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}", key) from None
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise SourceError(f"{name} is not UTF-8 text: byte {e.start} (0x{data[e.start]:02x}) cannot be decoded "
                          f"({e.reason}); convert the file to UTF-8", key) from None


def located(path: str, base: Optional[Path]) -> Path:
    p = Path(path).expanduser()
    p = (p if p.is_absolute() else Path(base or ".") / p).resolve()
    if not p.exists():
        raise SourceError(f"file or folder not found: {p}", "path")
    return p


def matching(root: Path, pattern: str) -> list[str]:
    """The files of `root` that `pattern` matches, relative to it, sorted; none is an error."""
    try:
        found = sorted(p.relative_to(root).as_posix() for p in root.glob(pattern) if p.is_file())
    except (ValueError, NotImplementedError) as e:
        raise SourceError(f"glob {pattern!r} cannot be used: {e}; write a relative pattern such as *.txt",
                          "glob") from None
    if not found:
        ends = sorted({p.suffix for p in root.iterdir() if p.is_file() and p.suffix})
        there = f"; its files end in {', '.join(ends[:8])}" if ends else "; it holds no files"
        raise SourceError(f"no file in {root} matches glob {pattern!r}{there}", "glob")
    return found


def text_corpus(a: TextArgs, base: Optional[Path]) -> Corpus:
    p = located(a.path, base)
    root, names = (p, matching(p, a.glob)) if p.is_dir() else (p.parent, [p.name])
    texts = [read_utf8(root / n, str(root / n), "path") for n in names]
    return Corpus("\n".join(texts) if any(texts) else "", names, str(p), "path")  # empty files: no text at all


def pydoc_corpus() -> Corpus:
    from pydoc_data.topics import topics

    return Corpus("\n\n".join(topics[k] for k in sorted(topics)), [], "pydoc_data.topics", None)


def stdlib_files(root: Path) -> list[str]:
    """The standard library's .py files relative to `root`, sorted, leaving out tests and packages."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [d for d in subfolders if d not in STDLIB_SKIP]
        found += [(Path(folder) / f).relative_to(root).as_posix() for f in files if f.endswith(".py")]
    return sorted(found)


def stdlib_corpus(a: StdlibArgs) -> Corpus:
    root = Path(sysconfig.get_paths()["stdlib"])
    names, texts = stdlib_files(root), []
    total = -1  # the joining newlines count: n files add n - 1
    for name in names:
        text = read_utf8(root / name, str(root / name), "max_chars")
        if total + 1 + len(text) > a.max_chars:
            break
        texts.append(text)
        total += 1 + len(text)
    if names and not texts:
        raise SourceError(f"max_chars {a.max_chars} keeps no file of {root}: the first, {names[0]}, has "
                          f"{len(text)} characters; raise max_chars", "max_chars")
    return Corpus("\n".join(texts), names[:len(texts)], str(root), "max_chars")


# ------------------------------------------------------------------------------ encoding


def fractions(split: Any) -> dict[str, float]:
    """Each part's share: the recipe's data.split, or its defaults."""
    return {p: float(getattr(split, p)) if split is not None else DEFAULT_SPLIT[p] for p in PARTS}


def cut(text: str, shares: dict[str, float]) -> dict[str, str]:
    """The characters cut into contiguous parts by their shares, in order, train first."""
    sizes = split_sizes(len(text), *(shares[p] for p in PARTS))
    ends = np.cumsum(sizes).tolist()
    return {p: text[end - n:end] for p, n, end in zip(PARTS, sizes, ends)}


def encode(corpus: Corpus, shares: dict[str, float], spec: TokenizerSpec) -> Encoded:
    parts = cut(corpus.text, shares)
    tok = tokenize.trained(spec.type, parts["train"], spec.vocab)
    ids = {p: tok.encode(t) for p, t in parts.items()}
    return Encoded(tok, ids, {p: len(t) for p, t in parts.items()}, {p: tok.unseen(v) for p, v in ids.items()})


_LAST: dict[str, Encoded] = {}  # the last corpus encoded: info then load in one process encode once


def encoded(corpus: Corpus, shares: dict[str, float], spec: TokenizerSpec) -> Encoded:
    h = hashlib.sha256(json.dumps([shares, spec.model_dump()]).encode())
    h.update(corpus.text.encode("utf-8", "surrogatepass"))
    key = h.hexdigest()
    if key not in _LAST:
        _LAST.clear()
        _LAST[key] = encode(corpus, shares, spec)
    return _LAST[key]


def check_parts(corpus: Corpus, enc: Encoded, shares: dict[str, float]) -> None:
    """Every part with a share holds at least 2 tokens (one to read, one to predict)."""
    for p in PARTS:
        n = len(enc.ids[p])
        if shares[p] > 0 and n < 2:
            raise SourceError(f"{corpus.where}: the {p} part (data.split.{p}: {shares[p]:g}) holds {n} token(s) "
                              f"({enc.chars[p]} of the {len(corpus.text)} characters); each part needs at least 2: "
                              f"give more text or raise data.split.{p}", corpus.key)


def rows(enc: Encoded) -> tuple[int, dict[str, np.ndarray]]:
    """C and each part's ids as (rows, C), its last partial row dropped."""
    c = min(MAX_CHUNK, min(len(v) for v in enc.ids.values() if len(v)))
    return c, {p: v[:len(v) // c * c].reshape(-1, c) for p, v in enc.ids.items()}


def dataset(corpus: Corpus, split: Any, spec: TokenizerSpec) -> Dataset:
    if not corpus.text:
        raise SourceError(f"{corpus.where} holds no text: the corpus is empty", corpus.key)
    shares = fractions(split)
    enc = encoded(corpus, shares, spec)
    check_parts(corpus, enc, shares)
    c, parts = rows(enc)
    counts = {p: len(parts[p]) for p in PARTS}
    starts = np.cumsum([0] + [counts[p] for p in PARTS]).tolist()
    given = {p: np.arange(starts[i], starts[i + 1], dtype=np.int64) for i, p in enumerate(PARTS)}
    x = np.concatenate([parts[p] for p in PARTS])
    info = DataInfo((c,), None, "sequence", samples=len(x), given=counts, vocab=list(enc.tokenizer.vocab),
                    contiguous=True)
    extra = {"tokenizer": enc.tokenizer.to_json(), "chars": dict(enc.chars),
             "tokens": {p: counts[p] * c for p in PARTS}, "unseen": dict(enc.unseen), "chunk": c,
             "files": list(corpus.files)}
    return Dataset(x, unlabelled(len(x)), info, extra, given)


# ------------------------------------------------------------------------------- sources


class _Text(Source):
    """A text corpus as token rows; subclasses say how to read the corpus."""

    reads_split = True

    def corpus(self, a: Any, base: Optional[Path]) -> Corpus:
        raise NotImplementedError

    def info(self, a: Any, base: Path, labels: Optional[LabelKind] = None, split: Any = None) -> DataInfo:
        return self.load(a, base, labels, split=split).info

    def load(self, a: Any, base: Path, labels: Optional[LabelKind] = None, split: Any = None) -> Dataset:
        return dataset(self.corpus(a, base), split, a.tokenizer)


@sources.register("text")
class Text(_Text):
    """A UTF-8 text file or folder of them (glob, default *.txt) as token rows for language models."""

    Args = TextArgs
    main = "path"

    def corpus(self, a: TextArgs, base: Optional[Path]) -> Corpus:
        return text_corpus(a, base)


@sources.register("pydoc_topics")
class PydocTopics(_Text):
    """Python's own help topics (pydoc_data.topics, ~465k characters of English), as token rows; nothing downloaded."""

    Args = TokenizedArgs

    def corpus(self, a: TokenizedArgs, base: Optional[Path]) -> Corpus:
        return pydoc_corpus()


@sources.register("python_stdlib")
class PythonStdlib(_Text):
    """The standard library's .py sources (tests left out; the first max_chars characters), as token rows."""

    Args = StdlibArgs

    def corpus(self, a: StdlibArgs, base: Optional[Path]) -> Corpus:
        return stdlib_corpus(a)
