"""Train/val/test splits: coverage, ratios, stratification, determinism, digests."""
from __future__ import annotations

import numpy as np
import pytest

from dlcli.data.base import SourceError
from dlcli.data.splits import split_indices, splits_digest

LABELS = np.repeat([0, 1, 2], [600, 300, 100])  # imbalanced on purpose


@pytest.mark.parametrize("labels, stratify", [("classes", True), ("classes", False), ("values", True), (None, True)])
@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.1), (0.7, 0.0, 0.3), (0.5, 0.25, 0.25), (1.0, 0.0, 0.0)])
def test_parts_cover_all_disjoint_sorted_and_sized(labels, stratify, ratios):
    y = {"classes": LABELS, "values": np.linspace(0, 1, 1000), None: np.zeros((1000, 0), np.float32)}[labels]
    parts = split_indices(y, labels, *ratios, stratify=stratify, seed=0)
    assert list(parts) == ["train", "val", "test"]
    joined = np.concatenate(list(parts.values()))
    assert np.array_equal(np.sort(joined), np.arange(len(y)))
    for (name, idx), ratio in zip(parts.items(), ratios):
        assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)
        assert abs(len(idx) - ratio * len(y)) <= 1, name


def test_stratified_parts_keep_class_proportions():
    parts = split_indices(LABELS, "classes", 0.8, 0.1, 0.1, stratify=True, seed=1)
    overall = np.bincount(LABELS) / len(LABELS)
    for idx in parts.values():
        share = np.bincount(LABELS[idx], minlength=3) / len(idx)
        assert np.allclose(share, overall, atol=0.011)


def test_deterministic_per_seed():
    a = split_indices(LABELS, "classes", 0.8, 0.1, 0.1, stratify=True, seed=5)
    b = split_indices(LABELS, "classes", 0.8, 0.1, 0.1, stratify=True, seed=5)
    c = split_indices(LABELS, "classes", 0.8, 0.1, 0.1, stratify=True, seed=6)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])
    assert splits_digest(a) == splits_digest(b) != splits_digest(c)


def test_val_zero_gives_an_empty_part():
    parts = split_indices(LABELS, "classes", 0.9, 0.0, 0.1, stratify=True, seed=0)
    assert parts["val"].dtype == np.int64 and parts["val"].shape == (0,)


def test_too_small_class_names_class_count_and_remedy():
    y = np.array([0] * 50 + [1] * 50 + [2])
    with pytest.raises(SourceError) as e:
        split_indices(y, "classes", 0.8, 0.1, 0.1, stratify=True, seed=0, classes=["a", "b", "rare"])
    msg = str(e.value)
    assert "'rare'" in msg and "1 sample" in msg and "stratify: false" in msg
    assert len(split_indices(y, "classes", 0.8, 0.1, 0.1, stratify=False, seed=0)["test"]) == 10


def test_part_smaller_than_the_class_count_cannot_be_stratified():
    y = np.arange(100) % 10
    with pytest.raises(SourceError, match="fewer than the 10 classes"):
        split_indices(y, "classes", 0.9, 0.05, 0.05, stratify=True, seed=0)


def test_ratios_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        split_indices(LABELS, "classes", 0.8, 0.1, 0.2, stratify=False, seed=0)


def test_digest_is_stable_and_order_independent():
    parts = {"train": np.array([0, 2]), "val": np.array([], dtype=np.int64), "test": np.array([1])}
    shuffled = {"test": np.array([1], dtype=np.int32), "train": np.array([0, 2]), "val": np.array([])}
    assert splits_digest(parts) == splits_digest(shuffled)
    assert len(splits_digest(parts)) == 64
    assert splits_digest(parts) != splits_digest({**parts, "val": np.array([3])})


def test_make_stratifies_only_data_with_class_labels():
    """partition.make/problems take the data's label kind: "classes" stratifies, nothing else does."""
    from dlcli.data.base import DataInfo, Dataset
    from dlcli.data.partition import make, problems
    from dlcli.recipe.schema import Split

    rare = np.array([0] * 99 + [1])  # one sample of class 1 cannot be stratified
    info = DataInfo((1,), "classes", "tabular", classes=["a", "b"], samples=100, class_counts=[99, 1])
    data = Dataset(np.arange(100, dtype=np.float32)[:, None], rare, info)
    (found,) = problems(Split(), info, "classes", 0)
    assert found[0] == ("stratify",) and "'b' has only 1 sample(s)" in found[1]
    with pytest.raises(SourceError, match="too few to stratify"):
        make(Split(), data, "classes", 0)
    plain = split_indices(rare, None, 0.8, 0.1, 0.1, stratify=True, seed=0)
    assert problems(Split(), info, None, 0) == []
    for parts in (make(Split(), data, None, 0), make(Split(), data, "values", 0)):
        assert all(np.array_equal(parts[k], plain[k]) for k in plain)
    unlabelled = Dataset(data.x, np.zeros((100, 0), np.float32), DataInfo((1,), None, "tabular", samples=100))
    assert all(np.array_equal(v, plain[k]) for k, v in make(Split(), unlabelled, "classes", 0).items())
