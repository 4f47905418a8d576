"""A CSV of string pairs for seq2seq: the csv source's pairs mode (`source:` names the source column).

Each row's source and target strings are read character by character, verbatim (no stripping:
a space is a symbol). The conventions are sequences.py's: token ids 0 <pad>, 1 <bos>, 2 <eos>,
then 3 <unk> (what a character unseen in training maps to at predict time), then the sorted
distinct characters of both columns over every row. x (N, S) holds each source's ids, right-padded
with <pad> to the longest source; y (N, T) each target's ids then <eos>, right-padded (no <bos>:
the task prepends it), T = the longest target + 1. An empty target is allowed (y is then <eos>
alone); an empty source is not. Tokens are decoded back to text by joining with `separator`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dlcli.data.base import DataInfo, Dataset, SourceError
from dlcli.data.sequences import BOS, EOS, PAD, SPECIALS

UNK = len(SPECIALS)
PAIR_SPECIALS = SPECIALS + ["<unk>"]
SEPARATOR = ""  # characters are the tokens: a decoded target is its tokens joined with nothing


def check_pair_args(a: Any) -> None:
    """The csv arguments that pairs mode cannot take, before any file is read."""
    if a.features is not None:
        raise SourceError(f"`features` picks numeric feature columns, but `source: {a.source}` reads the file as "
                          f"string pairs (source column '{a.source}', target column '{a.target}'); leave `features` "
                          f"out, or leave `source` out to read numeric features", "features")
    if a.source == a.target:
        raise SourceError(f"`source` and `target` both name column '{a.source}'; the target strings need a column "
                          f"of their own", "source")
    if a.split_column is not None and a.split_column in (a.source, a.target):
        raise SourceError(f"column '{a.split_column}' is the split column; it cannot hold the "
                          f"{'source' if a.split_column == a.source else 'target'} strings too", "split_column")


def pair_strings(t: Any, source: str, target: str) -> tuple[list[str], list[str]]:
    """The source and target cells of every row of `t` (a files.Table: files.py imports this module,
    so it is not imported back), verbatim; an empty source is an error."""
    s, g = t.column(source, "source"), t.column(target, "target")
    sources, targets = [row[s] for row in t.rows], [row[g] for row in t.rows]
    for cell, line in zip(sources, t.lines):
        if not cell:
            raise SourceError(f"{t.path}: source column '{source}' is empty on line {line}; every row needs a "
                              f"source string (an empty target is fine)", "source")
    return sources, targets


def pair_vocab(sources: list[str], targets: list[str]) -> list[str]:
    """The specials, then the sorted distinct characters of both columns: index = token id."""
    return PAIR_SPECIALS + sorted(set().union(*sources, *targets))


def encode(strings: list[str], vocab: list[str], eos: bool = False) -> np.ndarray:
    """(N, W) int64 ids of each string's characters (and <eos> after each, with `eos`),
    right-padded with <pad> to the longest; characters not in `vocab` map to <unk>."""
    index = {c: i for i, c in enumerate(vocab)}  # the specials are never one character: no clash
    rows = [[index.get(c, UNK) for c in s] + ([EOS] if eos else []) for s in strings]
    out = np.full((len(rows), max(map(len, rows), default=0)), PAD, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out


def pairs_dataset(t: Any, source: str, target: str) -> Dataset:
    """The table's string pairs as token ids, with sequences.py's extra keys (kind "pairs")."""
    sources, targets = pair_strings(t, source, target)
    vocab = pair_vocab(sources, targets)
    x, y = encode(sources, vocab), encode(targets, vocab, eos=True)
    lengths = np.array([len(s) for s in sources], dtype=np.int64)
    info = DataInfo((x.shape[1],), "sequences", "sequence", targets=y.shape[1], samples=len(x), vocab=vocab)
    # no train_max_len: the rows are split at random, so no length lies beyond training by construction
    extra = {"lengths": lengths, "pad": PAD, "bos": BOS, "eos": EOS, "unk": UNK, "kind": "pairs",
             "separator": SEPARATOR, "source": source}
    return Dataset(x, y, info, extra)
