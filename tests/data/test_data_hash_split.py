"""The hash split (a sample's part follows from its features and the seed) and the leakage count."""
from __future__ import annotations

import numpy as np
import pytest

from dlcli.data.splits import PARTS, describe_leakage, hash_indices, leakage, leaked, split_indices


def features(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 3, 2)).astype(np.float32)


def part_of(parts: dict) -> dict[int, str]:
    return {int(i): name for name, idx in parts.items() for i in idx}


def by_content(x: np.ndarray, parts: dict) -> dict[bytes, str]:
    return {x[i].tobytes(): name for i, name in part_of(parts).items()}


def test_parts_cover_all_rows_disjoint_sorted_int64():
    parts = hash_indices(features(500), 0.7, 0.2, 0.1, seed=0)
    assert list(parts) == list(PARTS)
    assert np.array_equal(np.sort(np.concatenate(list(parts.values()))), np.arange(500))
    for idx in parts.values():
        assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)


def test_proportions_follow_the_ratios():
    parts = hash_indices(features(2000), 0.7, 0.2, 0.1, seed=3)
    shares = [len(parts[k]) / 2000 for k in PARTS]
    assert np.allclose(shares, [0.7, 0.2, 0.1], atol=0.03), shares


def test_row_order_does_not_change_any_samples_part():
    x = features(800)
    order = np.random.default_rng(1).permutation(len(x))
    before = by_content(x, hash_indices(x, 0.8, 0.1, 0.1, seed=0))
    after = by_content(x[order], hash_indices(x[order], 0.8, 0.1, 0.1, seed=0))
    assert before == after


def test_appended_rows_leave_old_rows_where_they_were():
    x = features(600)
    grown = np.concatenate([x, features(300, seed=9)])
    old, new = part_of(hash_indices(x, 0.8, 0.1, 0.1, seed=0)), part_of(hash_indices(grown, 0.8, 0.1, 0.1, seed=0))
    assert all(new[i] == old[i] for i in range(600))
    assert {new[i] for i in range(600, 900)} == set(PARTS)  # the new rows spread over every part


def test_seed_changes_the_assignment_and_is_stable():
    x = features(500)
    a, b, c = (hash_indices(x, 0.8, 0.1, 0.1, seed=s) for s in (0, 0, 1))
    assert all(np.array_equal(a[k], b[k]) for k in PARTS)
    assert not np.array_equal(a["test"], c["test"])


def test_exact_duplicates_share_a_part_whatever_the_seed():
    base = features(300)
    x = np.concatenate([base, base[:100], base[:50]])  # rows i, 300+i (and 400+i) are identical
    for seed in range(5):
        part = part_of(hash_indices(x, 0.6, 0.2, 0.2, seed=seed))
        assert all(part[i] == part[300 + i] for i in range(100))
        assert all(part[i] == part[400 + i] for i in range(50))
        assert leaked(leakage(x, hash_indices(x, 0.6, 0.2, 0.2, seed=seed))) == 0


def test_content_not_dtype_and_negative_zero_decide():
    x = features(200)
    as_float64 = hash_indices(x.astype(np.float64), 0.8, 0.1, 0.1, seed=0)
    assert part_of(as_float64) == part_of(hash_indices(x, 0.8, 0.1, 0.1, seed=0))
    zeros = np.zeros((2, 4), np.float32)
    zeros[1, 2] = -0.0
    assert leakage(zeros, {"train": np.array([0]), "val": np.array([1]), "test": np.array([], np.int64)})["train_val"] == 1


@pytest.mark.parametrize("ratios, empty", [((0.8, 0.0, 0.2), "val"), ((0.7, 0.3, 0.0), "test"), ((1.0, 0.0, 0.0), "val")])
def test_a_zero_ratio_gives_an_empty_part(ratios, empty):
    parts = hash_indices(features(400), *ratios, seed=0)
    assert parts[empty].shape == (0,) and parts[empty].dtype == np.int64
    assert sum(len(v) for v in parts.values()) == 400


def test_ratios_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        hash_indices(features(10), 0.8, 0.1, 0.2, seed=0)


def test_leakage_counts_planted_duplicates_per_pair_of_parts():
    x = features(10)
    x[5], x[6], x[8], x[9] = x[0], x[1], x[0], x[7]  # 5 and 8 copy train row 0, 6 copies 1, 9 copies val row 7
    parts = {"train": np.array([0, 1, 2, 3]), "val": np.array([4, 5, 6, 7]), "test": np.array([8, 9])}
    report = leakage(x, parts)
    # test row 8 is in train (row 0) and in val (row 5): each pair of splits counts it
    assert report == {"train_val": 2, "train_test": 1, "val_test": 2,
                      "examples": [{"train": 0, "val": 5}, {"train": 1, "val": 6}, {"train": 0, "test": 8},
                                   {"val": 5, "test": 8}, {"val": 7, "test": 9}]}
    assert leaked(report) == 5
    assert describe_leakage(report) == ("exact-duplicate samples across splits: train/val 2, train/test 1, "
                                        "val/test 2 (e.g. train row 0 = val row 5)")


def test_leakage_keeps_at_most_five_examples_and_counts_duplicates_within_a_part_not():
    x = np.zeros((20, 3), np.float32)  # every row is the same sample
    parts = {"train": np.arange(10), "val": np.arange(10, 15), "test": np.arange(15, 20)}
    report = leakage(x, parts)
    assert (report["train_val"], report["train_test"], report["val_test"]) == (5, 5, 5)
    assert len(report["examples"]) == 5
    clean = leakage(features(20), parts)
    assert leaked(clean) == 0 and clean["examples"] == []


def test_iris_has_one_exact_duplicate_that_a_random_split_can_leak():
    """scikit-learn's iris rows 101 and 142 are identical (digits has no exact duplicates)."""
    from sklearn.datasets import load_iris

    iris = load_iris()
    x, y = iris.data.astype(np.float32), iris.target
    random = split_indices(y, "classes", 0.8, 0.1, 0.1, stratify=True, seed=2)
    assert leakage(x, random) == {"train_val": 1, "train_test": 0, "val_test": 0, "examples": [{"train": 101, "val": 142}]}
    hashed = hash_indices(x, 0.8, 0.1, 0.1, seed=2)
    assert leaked(leakage(x, hashed)) == 0


def test_digits_has_no_exact_duplicates():
    from sklearn.datasets import load_digits

    x = load_digits().data
    assert leaked(leakage(x, {"train": np.arange(len(x)), "val": np.arange(0), "test": np.arange(0)})) == 0
    assert leaked(leakage(x, split_indices(load_digits().target, "classes", 0.8, 0.1, 0.1, True, seed=0))) == 0
