"""A stratified shuffle split in numpy alone, draw for draw the one scikit-learn makes.

`train_test_split(idx, test_size=n, stratify=y, random_state=seed)` imports scikit-learn, and with
it SciPy: about a second of every `dlcli train`. This port consumes numpy's RandomState exactly as
scikit-learn's StratifiedShuffleSplit does, so splits.json (and every committed lock's split digest)
stays the same; tests/data/test_stratify.py compares the two over many inputs.
"""
from __future__ import annotations

import numpy as np


def approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """Per-class draws closest to the hypergeometric mode, ties broken at random (sklearn's rule)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def stratified_split(idx: np.ndarray, y: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, test) of `idx` with `n_test` samples in test and class proportions kept; y[i] labels idx[i].

    The caller guarantees what scikit-learn would raise for: every class has >= 2 samples and both
    parts hold at least one sample per class.
    """
    n_train = len(idx) - n_test
    _, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)
    n_i = approximate_mode(class_counts, n_train, rng)
    t_i = approximate_mode(class_counts - n_i, n_test, rng)
    train, test = [], []
    for i, members in enumerate(class_indices):
        shuffled = members.take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(shuffled[: n_i[i]])
        test.extend(shuffled[n_i[i]: n_i[i] + t_i[i]])
    return idx[rng.permutation(train)], idx[rng.permutation(test)]
