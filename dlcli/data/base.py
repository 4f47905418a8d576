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
from pydantic import BaseModel, ConfigDict

from dlcli.errors import UsageError
from dlcli.registry import Registry

sources = Registry("dataset")
augmentations = Registry("augmentation")
normalizers = Registry("normalization")

Layout = Literal["tabular", "image", "sequence"]
TaskName = Literal["classification", "regression"]


class SourceArgs(BaseModel):
    """Base of every source's arguments: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)


class SourceError(UsageError, ValueError):
    """The data cannot be read as asked; `key` is the source argument at fault (e.g. "path").

    A UsageError (exit 2) wherever it surfaces: a file that breaks only when training reads all
    of it is still wrong input, not a failed run."""

    def __init__(self, message: str, key: Optional[str] = None):
        super().__init__(message)
        self.key = key


@dataclass
class DataInfo:
    """What a source yields, known without loading it all: enough to infer every layer's shape."""

    input_shape: tuple  # per sample, e.g. (1, 8, 8) or (4,)
    task: TaskName
    layout: Layout
    classes: Optional[list[str]] = None  # classification: class names, index = label
    targets: Optional[int] = None  # regression: number of target columns
    feature_names: Optional[list[str]] = None
    raw_shape: Optional[tuple] = None  # what users hand over when it differs: digits are 64 pixels
    samples: Optional[int] = None  # how many samples there are in all (None: not known without loading)
    class_counts: Optional[list[int]] = None  # classification: samples per class, index = label
    given: Optional[dict[str, int]] = None  # a split the data comes with (`split: given`): part -> samples

    @property
    def user_shape(self) -> tuple:
        """The per-sample shape raw inputs come in (exported models take this and reshape)."""
        return tuple(self.raw_shape or self.input_shape)

    @property
    def outputs(self) -> Optional[int]:
        return len(self.classes) if self.classes is not None else self.targets


@dataclass
class Dataset:
    """All samples in memory: x (N, *input_shape) float32 (or raw uint8 images), y (N,) int64 labels or (N, targets) float32."""

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
    """A registered data source: Args, `info` (cheap) and `load` (all samples)."""

    Args: ClassVar[type[SourceArgs]] = SourceArgs
    main: ClassVar[Optional[str]] = None

    def info(self, a: Any, base: Path, task: Optional[TaskName] = None) -> DataInfo:
        raise NotImplementedError

    def load(self, a: Any, base: Path, task: Optional[TaskName] = None) -> Dataset:
        raise NotImplementedError
