"""Train/val/test index splits: seeded, stratified for classification, hashed for run records.

Sizes are rounded cumulatively (test first, then val), so each part is within one sample of
its ratio and the parts always sum to N. scikit-learn is imported only for a stratified split.
"""
from __future__ import annotations

import hashlib
from typing import Optional, Sequence

import numpy as np

from dlcli.data.base import SourceError, TaskName

PARTS = ("train", "val", "test")


def split_sizes(n: int, train: float, val: float, test: float) -> tuple[int, int, int]:
    """(n_train, n_val, n_test) for ratios that are >= 0 and sum to 1."""
    if min(train, val, test) < 0 or abs(train + val + test - 1.0) > 1e-6:
        raise ValueError(f"split ratios must be >= 0 and sum to 1, got train {train}, val {val}, test {test}")
    n_test = round(test * n)
    n_val = round((test + val) * n) - n_test
    return n - n_test - n_val, n_val, n_test


def class_name(label: int, classes: Optional[Sequence[str]]) -> str:
    return f"'{classes[label]}'" if classes is not None and 0 <= label < len(classes) else str(label)


def stratified_cut(idx: np.ndarray, y: np.ndarray, size: int, seed: int, part: str,
                   classes: Optional[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Split `size` samples of idx off into `part`, keeping class proportions: (rest, part)."""
    from sklearn.model_selection import train_test_split

    if size == 0 or size == len(idx):  # nothing to balance: one side is empty
        return (idx, idx[:0]) if size == 0 else (idx[:0], idx)
    values, counts = np.unique(y[idx], return_counts=True)
    if counts.min() < 2:
        c = int(values[counts.argmin()])
        raise SourceError(
            f"class {class_name(c, classes)} has only {int(np.sum(y == c))} sample(s), too few to stratify the "
            f"train/val/test split (each part needs its share of every class); set `stratify: false` "
            f"or add samples of that class")
    if min(size, len(idx) - size) < len(values):
        raise SourceError(
            f"the {part} split would hold {min(size, len(idx) - size)} samples, fewer than the {len(values)} "
            f"classes, so it cannot be stratified; set `stratify: false` or change the split ratios")
    rest, cut = train_test_split(idx, test_size=size, stratify=y[idx], random_state=seed)
    return rest, cut


def split_indices(y: np.ndarray, task: TaskName, train: float, val: float, test: float, stratify: bool,
                  seed: int, classes: Optional[Sequence[str]] = None) -> dict[str, np.ndarray]:
    """Disjoint sorted int64 index arrays {train, val, test} covering range(len(y)).

    Stratified (class proportions kept in every part) for classification when `stratify`;
    `classes` only names a class in an error message.
    """
    y, seed = np.asarray(y), seed % 2**32  # both numpy and scikit-learn take 32-bit seeds
    n_train, n_val, n_test = split_sizes(len(y), train, val, test)
    if stratify and task == "classification":
        rest, test_idx = stratified_cut(np.arange(len(y)), y, n_test, seed, "test", classes)
        train_idx, val_idx = stratified_cut(rest, y, n_val, seed, "val", classes)
    else:
        order = np.random.default_rng(seed).permutation(len(y))
        test_idx, val_idx, train_idx = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    parts = dict(zip(PARTS, (train_idx, val_idx, test_idx)))
    return {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in parts.items()}


def splits_digest(splits: dict[str, np.ndarray]) -> str:
    """sha256 hex of every part's name and indices, independent of platform and dict order."""
    h = hashlib.sha256()
    for name in sorted(splits):
        idx = np.asarray(splits[name], dtype="<i8")
        h.update(f"{name}:{len(idx)}:".encode())
        h.update(idx.tobytes())
    return h.hexdigest()
