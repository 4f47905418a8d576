"""The numpy stratified split draws exactly what scikit-learn's train_test_split draws."""
from __future__ import annotations

import numpy as np
import pytest

from dlcli.data.stratify import stratified_split


def sklearn_split(idx, y, n_test, seed):
    from sklearn.model_selection import train_test_split

    return train_test_split(idx, test_size=n_test, stratify=y, random_state=seed)


CASES = [(150, 3, 15), (1797, 10, 180), (40, 2, 7), (37, 4, 9), (500, 7, 333), (12, 3, 3), (9, 2, 4)]


@pytest.mark.parametrize("n, k, n_test", CASES)
@pytest.mark.parametrize("seed", [0, 1, 7, 2**32 - 1])
def test_same_indices_as_scikit_learn(n, k, n_test, seed):
    rng = np.random.default_rng(n * 31 + k)
    y = np.concatenate([np.arange(k), np.arange(k), rng.integers(0, k, n - 2 * k)])  # every class twice at least
    rng.shuffle(y)
    idx = rng.permutation(n * 3)[:n]  # the indices being split need not be 0..n-1
    rest, test = stratified_split(idx, y, n_test, seed)
    want_rest, want_test = sklearn_split(idx, y, n_test, seed)
    assert rest.tolist() == want_rest.tolist()
    assert test.tolist() == want_test.tolist()


def test_unbalanced_string_labels_and_ties():
    y = np.array(["b"] * 5 + ["a"] * 2 + ["c"] * 2 + ["d"] * 5)
    idx = np.arange(len(y))
    for seed in range(20):
        got = stratified_split(idx, y, 5, seed)
        want = sklearn_split(idx, y, 5, seed)
        assert [g.tolist() for g in got] == [w.tolist() for w in want], seed
