"""The run's data on the training device: load, split, normalise (train statistics), move once.

Batches are then index slices of device tensors: no per-sample DataLoader, no host copies.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from dlcli.components import split_source

SPLITS = ("train", "val", "test")


@dataclass
class RunData:
    dataset: Any  # dlcli.data.base.Dataset (numpy, raw)
    indices: dict  # split -> np.ndarray of row indices
    digest: str  # hash of the split index lists
    shift: np.ndarray
    scale: np.ndarray
    y_shift: Optional[np.ndarray] = None  # real-valued targets are standardised for training too (Task.standardize_targets)
    y_scale: Optional[np.ndarray] = None
    leakage: Optional[dict] = None  # exact duplicates across a fresh split; None when off or reused
    x: dict = field(default_factory=dict)  # split -> normalised device tensor
    y: dict = field(default_factory=dict)  # split -> target device tensor

    def size(self, split: str) -> int:
        return len(self.indices[split])


def load_dataset(resolved: Any) -> Any:
    from dlcli.data import sources
    from dlcli.data.base import split_kwargs

    name, args = split_source(resolved.doc["data"]["source"])
    source = sources.get(name)()
    return source.load(source.Args(**args), resolved.base, labels=resolved.parts.task.needs.hint,
                       **split_kwargs(source, resolved.recipe.data.split))


def make_splits(resolved: Any, dataset: Any) -> dict:
    """The recipe's data.split of `dataset`: given, hashed or seeded (dlcli.data.partition)."""
    from dlcli.data.base import SourceError
    from dlcli.data.partition import make
    from dlcli.errors import UsageError

    try:
        return make(resolved.recipe.data.split, dataset, dataset.info.labels, resolved.recipe.seed)
    except SourceError as e:
        raise UsageError(f"{resolved.path}: data.split: {e}") from None


def prepare(resolved: Any, device: Any, task: Any, indices: Optional[dict] = None) -> RunData:
    """Load the data, split it (or reuse `indices`), fit normalisation on train, move to device.

    A fresh split also gets its leakage report; reused indices were checked when first made.
    """
    from dlcli.data import normalizers
    from dlcli.data.splits import splits_digest

    dataset = load_dataset(resolved)
    fresh = indices is None
    indices = make_splits(resolved, dataset) if fresh else fitting(indices, len(dataset), resolved)
    x_train = dataset.x[indices["train"]]
    shift, scale = normalizers.get(resolved.recipe.data.normalize)().fit(x_train, dataset.info.layout)
    data = RunData(dataset, indices, splits_digest(indices), np.asarray(shift, np.float32), np.asarray(scale, np.float32),
                   leakage=leakage_report(resolved, dataset, indices) if fresh else None)
    if task.standardize_targets and resolved.recipe.data.normalize != "none":
        data.y_shift, data.y_scale = target_stats(dataset.y[indices["train"]])
    for split in SPLITS:
        data.x[split], data.y[split] = to_device(data, split, device, task)
    return data


def fitting(indices: dict, n: int, resolved: Any) -> dict:
    """A run's saved split, if the data still has every row it names (a file may have shrunk since)."""
    from dlcli.errors import UsageError

    top = max((int(v.max()) for v in indices.values() if len(v)), default=-1)
    if top >= n:
        raise UsageError(f"the run's splits.json names row {top}, but {resolved.path}'s data now has {n} rows: "
                         f"the data changed since the run was split; train the recipe again for a new run")
    return indices


def leakage_report(resolved: Any, dataset: Any, indices: dict) -> Optional[dict]:
    """Exact-duplicate samples across the splits, or None with `check.leakage: off`."""
    from dlcli.data.splits import leakage

    check = resolved.recipe.check
    if check is not None and check.leakage == "off":
        return None
    return leakage(dataset.x, indices)


def target_stats(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = y.reshape(len(y), -1).astype(np.float64)
    std = y.std(0)
    return y.mean(0).astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)


def to_device(data: RunData, split: str, device: Any, task: Any) -> tuple[Any, Any]:
    import torch

    idx = data.indices[split]
    x = torch.as_tensor(data.dataset.x[idx], device=device)  # uint8 images cross as uint8: 4x fewer bytes
    if x.dtype == torch.uint8:
        x = x.float()  # once, on the device
    if x.is_floating_point():
        x = (x - torch.as_tensor(data.shift, device=device)) / torch.as_tensor(data.scale, device=device)
    y = task.targets(data.dataset.y[idx], data.dataset.info.labels, device)
    if data.y_shift is not None:
        y = (y - torch.as_tensor(data.y_shift, device=device)) / torch.as_tensor(data.y_scale, device=device)
    return x.contiguous(), y
