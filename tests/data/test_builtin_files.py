"""The embedded datasets read from scikit-learn's files with numpy alone: bit for bit what its
loaders return, without importing it, and its loader when the files cannot be read."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from dlcli.data import embedded, sources

EMBEDDED = ["digits", "iris", "wine", "breast_cancer", "diabetes"]


def sklearn_bunch(name: str):
    from sklearn import datasets

    return getattr(datasets, f"load_{name}")()


@pytest.mark.parametrize("name", EMBEDDED)
def test_files_read_bit_for_bit_as_scikit_learn_loads_them(name):
    mine, theirs = embedded.read(name, sources.get(name).known.feature_names), sklearn_bunch(name)
    for got, want in ((mine.data, theirs.data), (mine.target, theirs.target)):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == np.ascontiguousarray(want).tobytes()
    names = getattr(theirs, "target_names", None)
    assert mine.target_names == (None if names is None else [str(c) for c in names])
    assert mine.feature_names == [str(f) for f in theirs.feature_names]


@pytest.mark.parametrize("name", EMBEDDED)
def test_the_dataset_is_the_one_the_scikit_learn_loader_gave(name, monkeypatch):
    src = sources.get(name)()
    from_files = src.load(src.Args(), None)
    monkeypatch.setattr(embedded, "data_folder", lambda: None)  # the old path: scikit-learn's loader
    from_sklearn = src.load(src.Args(), None)
    assert from_files.digest() == from_sklearn.digest()
    for field in ("input_shape", "classes", "feature_names", "samples", "class_counts", "raw_shape"):
        assert getattr(from_files.info, field) == getattr(from_sklearn.info, field), field


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage"])
def test_unreadable_files_fall_back_to_scikit_learn(tmp_path, monkeypatch, damage):
    folder = tmp_path / "data"
    folder.mkdir()
    real = embedded.data_folder()
    for file in ("iris.csv", "digits.csv.gz"):
        content = (real / file).read_bytes()
        if damage == "truncated":
            (folder / file).write_bytes(content[: len(content) // 3])
        elif damage == "garbage":
            (folder / file).write_bytes(b"\x00\xff not a table \x01" * 50)
    monkeypatch.setattr(embedded, "data_folder", lambda: folder)
    for name in ("iris", "digits"):
        got, want = embedded.read(name, sources.get(name).known.feature_names), sklearn_bunch(name)
        assert got.data.tobytes() == want.data.tobytes() and got.target.tobytes() == want.target.tobytes()


def test_no_scikit_learn_installed_means_no_folder(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert embedded.data_folder() is None


LOAD = """
import sys
from pathlib import Path
from dlcli.data import sources
for name in ("iris", "digits"):
    src = sources.get(name)()
    data = src.load(src.Args(), Path("."))
    assert len(data) in (150, 1797)
from dlcli.data.partition import make
from dlcli.recipe.schema import Split
parts = make(Split(), data, data.info.labels, 0)  # the default split: stratified
assert sum(map(len, parts.values())) == 1797
print("sklearn" in sys.modules, "scipy" in sys.modules)
"""


def test_loading_and_splitting_iris_and_digits_does_not_import_scikit_learn():
    out = subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("name", sources.names())
def test_info_counts_agree_with_load(name, source_args, tmp_path):
    """`validate` decides stratification from info's counts: they must be the loaded data's."""
    src = sources.get(name)()
    a = src.Args(**source_args(name))
    info, data = src.info(a, tmp_path), src.load(a, tmp_path)
    assert info.samples == len(data)
    if info.labels == "classes":
        assert info.class_counts == np.bincount(data.y, minlength=len(info.classes)).tolist()
    else:
        assert info.class_counts is None


@pytest.mark.parametrize("name, size", [("moons", 7), ("circles", 9), ("blobs", 11), ("spirals", 13)])
def test_synthetic_counts_for_odd_sizes(name, size):
    src = sources.get(name)()
    a = src.Args(size=size)
    assert src.info(a, None).class_counts == np.bincount(src.load(a, None).y).tolist()
