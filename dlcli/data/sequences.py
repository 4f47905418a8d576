"""Algorithmic sequences generated in memory from a seed: the classic tests of sequence models.

copy, reverse, sort and add are seq2seq pairs; parens classifies strings of "(" and ")" as
balanced or not. Token ids are 0 <pad>, 1 <bos>, 2 <eos>, then the symbols (`info.vocab` lists
them all, index = id). x (N, S) holds the sources right-padded with <pad> to the longest source
the arguments allow; a seq2seq y (N, T) holds each target's symbols then <eos>, right-padded
(no <bos>: the task prepends it for teacher forcing).

The `samples` in-distribution samples (lengths drawn uniformly from min_len..max_len) are iid,
so data.split's fractions cut them in order into train, val and test, and the test part then
also gets `longer` samples of each length max_len+1 .. test_max_len: a model's accuracy can be
read per length, and train and the longer samples are disjoint by construction. The two blocks
draw from independent streams of the seed: the test lengths never change the training samples.
parens draws only the even lengths of those ranges (no odd string is balanced), and add counts
operand digits instead (digits, then digits+1 .. test_digits). The longer samples join the test
part whatever its fraction (`longer: 0` leaves them out).
`info` is computed from the arguments alone; the tests check that `load` yields the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Optional

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveInt, ValidationInfo, field_validator

from dlcli.data.base import DataInfo, Dataset, LabelKind, Source, SourceArgs, sources
from dlcli.data.splits import PARTS, split_sizes
from dlcli.data.text import fractions

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ["<pad>", "<bos>", "<eos>"]
FIRST = len(SPECIALS)  # the first symbol's id
LETTERS = "abcdefghijklmnopqrstuvwxyz"
OPEN, CLOSE = FIRST, FIRST + 1  # parens' "(" and ")"
PLUS = FIRST + 10  # add's "+", after the ten digits
CLASSES = ["unbalanced", "balanced"]


# ----------------------------------------------------------------------------- arguments


class SequenceArgs(SourceArgs):
    samples: PositiveInt = Field(10000, description="in-distribution samples, cut into data.split's train, val "
                                 "and test parts in order")
    longer: NonNegativeInt = Field(200, description="test samples of each length beyond the training lengths "
                                   "(0: none)")
    seed: NonNegativeInt = Field(0, description="random seed; the same seed gives the same samples")


class LengthArgs(SequenceArgs):
    min_len: PositiveInt = Field(1, description="shortest in-distribution source, in symbols")
    max_len: PositiveInt = Field(8, description="longest in-distribution source, in symbols (lengths are drawn "
                                 "uniformly from min_len..max_len)")
    test_max_len: Optional[PositiveInt] = Field(None, description="longest test source (default 2 * max_len): the "
                                                "test part holds `longer` samples of each length above max_len")

    @property
    def test_len(self) -> int:
        return self.test_max_len if self.test_max_len is not None else 2 * self.max_len

    @field_validator("max_len")
    @classmethod
    def _above_min(cls, v: int, info: ValidationInfo) -> int:
        low = info.data.get("min_len")
        if low is not None and v < low:
            raise ValueError(f"max_len ({v}) must be >= min_len ({low}): lengths are drawn from min_len..max_len; "
                             f"raise max_len or lower min_len")
        return v

    @field_validator("test_max_len")
    @classmethod
    def _above_max(cls, v: Optional[int], info: ValidationInfo) -> Optional[int]:
        high = info.data.get("max_len")
        if v is not None and high is not None and v < high:
            raise ValueError(f"test_max_len ({v}) must be >= max_len ({high}): the test part's longer sources run "
                             f"from max_len + 1 to test_max_len; raise it or leave it out (default 2 * max_len)")
        return v


class SymbolArgs(LengthArgs):
    vocab: PositiveInt = Field(10, description='distinct symbols, written "a", "b", ... (up to 26) or "s0", '
                               '"s1", ...')


class ParensArgs(LengthArgs):
    @field_validator("max_len")
    @classmethod
    def _has_even(cls, v: int, info: ValidationInfo) -> int:
        low = info.data.get("min_len")
        if low is not None and not evens(low, v):
            raise ValueError(f"a balanced string has an even length, and min_len..max_len ({low}..{v}) holds none: "
                             f"widen it to take in an even length")
        return v


class AddArgs(SequenceArgs):
    digits: PositiveInt = Field(2, description="digits of each operand in training (zero-padded)")
    test_digits: Optional[PositiveInt] = Field(None, description="most operand digits in the test part (default "
                                               "digits + 1): `longer` samples of each digit count above digits")

    @property
    def test_len(self) -> int:
        return self.test_digits if self.test_digits is not None else self.digits + 1

    @field_validator("test_digits")
    @classmethod
    def _above_digits(cls, v: Optional[int], info: ValidationInfo) -> Optional[int]:
        low = info.data.get("digits")
        if v is not None and low is not None and v < low:
            raise ValueError(f"test_digits ({v}) must be >= digits ({low}): the test part's longer sums run from "
                             f"digits + 1 to test_digits; raise it or leave it out (default digits + 1)")
        return v


def evens(low: int, high: int) -> list[int]:
    return [n for n in range(low, high + 1) if n % 2 == 0]


def symbol_names(k: int) -> list[str]:
    return list(LETTERS[:k]) if k <= len(LETTERS) else [f"s{i}" for i in range(k)]


# ---------------------------------------------------------------------------------- plan


@dataclass
class Plan:
    """What a source's arguments make, known without drawing a sample."""

    inside: list[int]  # the in-distribution lengths, drawn uniformly
    longer: list[int]  # the test-only lengths, `longer` samples each
    sizes: dict[str, int]  # in-distribution samples per part (the longer ones come on top of test)
    width: int  # x columns: the longest source
    target_width: Optional[int]  # y columns of a seq2seq source: the longest target and its <eos>
    per_length: int  # samples of each longer length

    @property
    def given(self) -> dict[str, int]:
        """Samples per part: the test part holds the longer samples too."""
        extra = len(self.longer) * self.per_length
        return {p: self.sizes[p] + (extra if p == "test" else 0) for p in PARTS}


def part_rows(sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """Each part's rows: contiguous blocks in order, train first."""
    ends = np.cumsum([sizes[p] for p in PARTS]).tolist()
    return {p: np.arange(end - sizes[p], end, dtype=np.int64) for p, end in zip(PARTS, ends)}


def streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the in-distribution and the longer samples."""
    inside, longer = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(inside), np.random.default_rng(longer)


# ------------------------------------------------------------------------------- sources


class _Sequences(Source):
    """A seeded algorithmic sequence task; subclasses give the symbols, lengths, sources and targets."""

    Args = SymbolArgs
    reads_split = True
    labels: ClassVar[LabelKind] = "sequences"
    kind: ClassVar[str]

    def symbols(self, a: Any) -> list[str]:
        return symbol_names(a.vocab)

    def lengths(self, a: Any) -> tuple[list[int], list[int]]:
        """(the in-distribution lengths, the test-only longer lengths)."""
        return list(range(a.min_len, a.max_len + 1)), list(range(a.max_len + 1, a.test_len + 1))

    def source_len(self, length: int) -> int:
        return length

    def target_len(self, length: int) -> int:
        return length

    def draw(self, a: Any, length: int, m: int, rng: np.random.Generator) -> np.ndarray:
        """(m, source_len(length)) int64 source ids."""
        return rng.integers(FIRST, FIRST + a.vocab, (m, length), dtype=np.int64)

    def targets(self, a: Any, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Each row's target symbols, left-aligned and padded (without <eos>)."""
        raise NotImplementedError

    def labelled(self, a: Any, x: np.ndarray, lengths: np.ndarray, plan: Plan,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of a block of sources: y is each target's symbols, then <eos>, right-padded."""
        body, ends = self.targets(a, x, lengths), np.array([self.target_len(n) for n in lengths.tolist()])
        y = np.zeros((len(x), plan.target_width), np.int64)
        y[:, :body.shape[1]] = body
        y[np.arange(len(x)), ends] = EOS
        return x, y

    def plan(self, a: Any, split: Any) -> Plan:
        inside, longer = self.lengths(a)
        longer = longer if a.longer else []
        every = inside + longer
        target = max(self.target_len(n) for n in every) + 1 if self.labels == "sequences" else None
        shares = fractions(split)
        sizes = dict(zip(PARTS, split_sizes(a.samples, *(shares[p] for p in PARTS))))
        return Plan(inside, longer, sizes, max(self.source_len(n) for n in every), target, a.longer)

    def described(self, a: Any, plan: Plan) -> DataInfo:
        given = plan.given
        return DataInfo((plan.width,), self.labels, "sequence", targets=plan.target_width,
                        samples=sum(given.values()), given=given, vocab=SPECIALS + self.symbols(a), contiguous=True)

    def info(self, a: Any, base: Path, labels: Optional[LabelKind] = None, split: Any = None) -> DataInfo:
        return self.described(a, self.plan(a, split))

    def block(self, a: Any, lengths: np.ndarray, plan: Plan, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """(x, y, lengths) of samples of these lengths."""
        x = np.zeros((len(lengths), plan.width), np.int64)
        for length in np.unique(lengths).tolist():
            rows = np.flatnonzero(lengths == length)
            x[rows, :self.source_len(length)] = self.draw(a, length, len(rows), rng)
        return (*self.labelled(a, x, lengths, plan, rng), lengths)

    def load(self, a: Any, base: Path, labels: Optional[LabelKind] = None, split: Any = None) -> Dataset:
        plan = self.plan(a, split)
        inside, longer = streams(a.seed)
        drawn = np.asarray(plan.inside, dtype=np.int64)[inside.integers(0, len(plan.inside), a.samples)]
        blocks = [self.block(a, drawn, plan, inside)]
        blocks += [self.block(a, np.full(a.longer, n, np.int64), plan, longer) for n in plan.longer]
        x, y, lengths = (np.concatenate(parts) for parts in zip(*blocks))
        extra = {"lengths": lengths.astype(np.int64), "pad": PAD, "bos": BOS, "eos": EOS,
                 "train_max_len": max(plan.inside), "kind": self.kind}
        return Dataset(x, y, self.described(a, plan), extra, part_rows(plan.given))


@sources.register("copy")
class Copy(_Sequences):
    """Seq2seq: copy a random string of `vocab` symbols (lengths min_len..max_len; longer ones in test)."""

    kind = "copy"

    def targets(self, a: SymbolArgs, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return x


@sources.register("reverse")
class Reverse(_Sequences):
    """Seq2seq: reverse a random string of `vocab` symbols (lengths min_len..max_len; longer ones in test)."""

    kind = "reverse"

    def targets(self, a: SymbolArgs, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        back = lengths[:, None] - 1 - np.arange(x.shape[1])[None]  # column j takes the source's column L-1-j
        return np.where(back >= 0, np.take_along_axis(x, np.maximum(back, 0), axis=1), PAD)


@sources.register("sort")
class Sort(_Sequences):
    """Seq2seq: sort a random string of `vocab` symbols by id (lengths min_len..max_len; longer ones in test)."""

    kind = "sort"

    def targets(self, a: SymbolArgs, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        last = np.iinfo(np.int64).max  # padding sorts after every symbol
        ordered = np.sort(np.where(x == PAD, last, x), axis=1)
        return np.where(ordered == last, PAD, ordered)


@sources.register("add")
class Add(_Sequences):
    """Seq2seq: "ab+cd" -> the sum's digits reversed (minGPT's adder), `digits`-digit operands; longer ones in test."""

    Args = AddArgs
    kind = "add"

    def symbols(self, a: AddArgs) -> list[str]:
        return [str(d) for d in range(10)] + ["+"]

    def lengths(self, a: AddArgs) -> tuple[list[int], list[int]]:
        return [a.digits], list(range(a.digits + 1, a.test_len + 1))

    def source_len(self, digits: int) -> int:
        return 2 * digits + 1

    def target_len(self, digits: int) -> int:
        return digits + 1

    def draw(self, a: AddArgs, digits: int, m: int, rng: np.random.Generator) -> np.ndarray:
        x = FIRST + rng.integers(0, 10, (m, 2 * digits + 1), dtype=np.int64)
        x[:, digits] = PLUS
        return x

    def targets(self, a: AddArgs, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        out = np.zeros((len(x), max(lengths.tolist()) + 1), np.int64)
        for d in np.unique(lengths).tolist():
            rows = np.flatnonzero(lengths == d)
            out[rows, :d + 1] = FIRST + reversed_sum(x[rows, :d] - FIRST, x[rows, d + 1:2 * d + 1] - FIRST)
        return out


def reversed_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(m, d) + (m, d) digits, most significant first -> (m, d + 1) digits of the sum, least significant first."""
    d = a.shape[1]
    out, carry = np.zeros((len(a), d + 1), np.int64), np.zeros(len(a), np.int64)
    for k in range(d):  # digit by digit with a carry: operands of any length, no int64 overflow
        s = a[:, d - 1 - k] + b[:, d - 1 - k] + carry
        out[:, k], carry = s % 10, s // 10
    out[:, d] = carry
    return out


@sources.register("parens")
class Parens(_Sequences):
    """Classify strings of "(" and ")" as balanced or not, half each (even lengths min_len..max_len; longer in test)."""

    Args = ParensArgs
    kind = "parens"
    labels = "classes"

    def symbols(self, a: ParensArgs) -> list[str]:
        return ["(", ")"]

    def lengths(self, a: ParensArgs) -> tuple[list[int], list[int]]:
        return evens(a.min_len, a.max_len), evens(a.max_len + 1, a.test_len)

    def draw(self, a: ParensArgs, length: int, m: int, rng: np.random.Generator) -> np.ndarray:
        return dyck(length, m, rng)

    def labelled(self, a: ParensArgs, x: np.ndarray, lengths: np.ndarray, plan: Plan,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Every source is balanced as drawn; half of them, at random, are then unbalanced."""
        y = rng.permutation(np.arange(len(x)) % 2)
        for length in np.unique(lengths).tolist():
            rows = np.flatnonzero((lengths == length) & (y == 0))
            x[rows, :length] = unbalanced(x[rows, :length], rng)
        return x, y.astype(np.int64)

    def described(self, a: ParensArgs, plan: Plan) -> DataInfo:
        info = super().described(a, plan)
        info.classes = list(CLASSES)
        blocks = [a.samples] + [plan.per_length] * len(plan.longer)  # each block is half balanced
        info.class_counts = [sum(n - n // 2 for n in blocks), sum(n // 2 for n in blocks)]
        return info


def dyck(length: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """(m, length) uniformly random balanced strings, by the cycle lemma: of the rotations of a
    shuffle of length/2 opening and length/2 + 1 closing steps, exactly one (starting after the
    first lowest prefix sum) never dips below zero before its last step, which is dropped."""
    n = length // 2
    steps = rng.permuted(np.tile(np.array([1] * n + [-1] * (n + 1), np.int64), (m, 1)), axis=1)
    start = np.argmin(np.cumsum(steps, axis=1), axis=1) + 1
    order = (start[:, None] + np.arange(length + 1)[None]) % (length + 1)
    kept = np.take_along_axis(steps, order, axis=1)[:, :length]
    return np.where(kept == 1, OPEN, CLOSE).astype(np.int64)


def balanced(x: np.ndarray) -> np.ndarray:
    """(N,) bool: whether each padded row of "(" and ")" ids is balanced."""
    depth = np.cumsum(np.where(x == OPEN, 1, np.where(x == CLOSE, -1, 0)), axis=1)
    return (depth.min(axis=1) >= 0) & (depth[:, -1] == 0)


def unbalanced(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Balanced (m, L) strings with symbols flipped, drawn again where two flips happened to
    leave a string balanced (one flip never does: it makes the counts differ)."""
    out, todo = x.copy(), np.arange(len(x))
    while len(todo):
        out[todo] = flipped(x[todo], rng)
        todo = todo[balanced(out[todo])]
    return out


def flipped(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row with the symbol at one random position flipped, and for half of them (at random)
    one more: two flips can keep the counts equal, so counting alone cannot tell the classes apart."""
    m, length = x.shape
    i = rng.integers(0, length, m)
    j = (i + rng.integers(1, length, m)) % length  # another position
    two = rng.random(m) < 0.5
    flip = np.zeros(x.shape, bool)
    flip[np.arange(m), i] = True
    flip[np.flatnonzero(two), j[two]] = True
    return np.where(flip, OPEN + CLOSE - x, x)
