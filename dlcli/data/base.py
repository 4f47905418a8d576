"""What a data source is: cheap `info` for validation, full `load` for training.

Sources hold numpy arrays; torch is not imported here, so `dlcli validate` can check data
(file exists, columns, shapes, class count) without it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

import numpy as np

from dlcli.components import Strict
from dlcli.errors import UsageError
from dlcli.registry import Registry

sources = Registry("dataset")
augmentations = Registry("augmentation")
normalizers = Registry("normalization")

Layout = Literal["tabular", "image", "sequence"]
LabelKind = Literal["classes", "values", "sequences"]  # integer class labels, real-valued targets, or token sequences


class SourceArgs(Strict):
    """Base of every source's arguments: unknown keys are errors."""


class SourceError(UsageError, ValueError):
    """The data cannot be read as asked; `key` is the source argument at fault (e.g. "path").

    A UsageError (exit 2) wherever it surfaces: a file that breaks only when training reads all
    of it is still wrong input, not a failed run."""

    def __init__(self, message: str, key: Optional[str] = None):
        super().__init__(message)
        self.key = key


@dataclass
class DataInfo:
    """What a source yields, known without loading it all: enough to infer every layer's shape.

    `labels` describes the data's labels, never the task that uses them (that is the recipe's):
    "classes" (integer class labels: classes and class_counts filled), "values" (real-valued
    targets: `targets` columns) or None (no labels: x only)."""

    input_shape: tuple  # per sample, e.g. (1, 8, 8) or (4,)
    labels: Optional[LabelKind]
    layout: Layout
    classes: Optional[list[str]] = None  # class labels: class names, index = label
    targets: Optional[int] = None  # value labels: number of target columns; token sequences: the target's width
    feature_names: Optional[list[str]] = None
    raw_shape: Optional[tuple] = None  # what users hand over when it differs: digits are 64 pixels
    samples: Optional[int] = None  # how many samples there are in all (None: not known without loading)
    class_counts: Optional[list[int]] = None  # class labels: samples per class, index = label
    given: Optional[dict[str, int]] = None  # a split the data comes with (`split: given`): part -> samples
    vocab: Optional[list[str]] = None  # token data: the token strings, index = token id
    contiguous: bool = False  # the source cut data.split's parts itself, as contiguous blocks in order (`given`)

    @property
    def user_shape(self) -> tuple:
        """The per-sample shape raw inputs come in (exported models take this and reshape)."""
        return tuple(self.raw_shape or self.input_shape)

    @property
    def outputs(self) -> Optional[int]:
        """Classes or target columns: what a supervised head predicts (None without labels or for sequences)."""
        if self.labels == "sequences":
            return None
        return len(self.classes) if self.classes is not None else self.targets


@dataclass
class Dataset:
    """All samples in memory: x (N, *input_shape) float32 (or raw uint8 images, or int64 token ids
    for token data: info.vocab set); y (N,) int64 class labels, (N, targets) float32 values, or an
    empty (N, 0) float32 array for data without labels."""

    x: np.ndarray
    y: np.ndarray
    info: DataInfo
    extra: dict = field(default_factory=dict)  # e.g. the csv label mapping
    given: Optional[dict[str, np.ndarray]] = None  # the split the data comes with: part -> row indices

    def __len__(self) -> int:
        return len(self.x)

    def digest(self) -> str:
        h = hashlib.sha256()
        for a in (self.x, self.y):
            a = np.ascontiguousarray(a)
            h.update(str((a.dtype.str, a.shape)).encode())
            h.update(a.tobytes())
        return h.hexdigest()


class Source:
    """A registered data source: Args, `info` (cheap) and `load` (all samples).

    A source that `reads_split` cuts the parts itself (a text corpus, into contiguous blocks): its
    `info` and `load` then take a keyword `split=`, the recipe's data.split (a recipe.schema.Split:
    train, val, test fractions and method), or None for Split()'s defaults."""

    Args: ClassVar[type[SourceArgs]] = SourceArgs
    main: ClassVar[Optional[str]] = None
    reads_split: ClassVar[bool] = False

    def info(self, a: Any, base: Path, labels: Optional[LabelKind] = None) -> DataInfo:
        """What `load` would yield, cheaply. `labels` is a hint for files whose target could be read
        either way (an integer column as classes or as values); sources whose labels are fixed ignore it."""
        raise NotImplementedError

    def load(self, a: Any, base: Path, labels: Optional[LabelKind] = None) -> Dataset:
        raise NotImplementedError


def split_kwargs(source: Source, split: Any) -> dict:
    """The keywords to pass `info` / `load` of `source`: the recipe's data.split where it reads it."""
    return {"split": split} if source.reads_split else {}


def unlabelled(n: int) -> np.ndarray:
    """The y of data without labels: (N, 0) float32, so every row still indexes like labelled data."""
    return np.zeros((n, 0), dtype=np.float32)
