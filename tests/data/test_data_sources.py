"""Contract tests over every registered source, plus the builtin datasets' specifics."""
from __future__ import annotations

import numpy as np
import pytest

import dlcli.data  # noqa: F401  (fills the registries)
from dlcli.data.base import sources
from dlcli.registry import first_line

SYNTHETIC = ["moons", "circles", "blobs", "spirals"]


@pytest.mark.parametrize("name", sources.names())
def test_info_agrees_with_load(name, source_args, tmp_path):
    src = sources.get(name)()
    a = src.Args(**source_args(name))
    info, data = src.info(a, tmp_path), src.load(a, tmp_path)
    assert first_line(sources.get(name))
    # raw images may stay uint8 (a quarter of the memory, converted on the device); token ids are
    # int64; all else is float32
    assert data.x.dtype == np.float32 or (data.x.dtype == np.uint8 and info.layout == "image") or \
        (data.x.dtype == np.int64 and info.vocab is not None)
    assert len(data.y) == len(data.x) > 0
    assert data.x.shape[1:] == tuple(info.input_shape)
    for field in ("input_shape", "labels", "layout", "classes", "targets", "feature_names", "class_counts"):
        assert getattr(data.info, field) == getattr(info, field), field
    if info.labels == "classes":
        assert data.y.dtype == np.int64 and data.y.ndim == 1
        assert sorted(set(data.y.tolist())) == list(range(len(info.classes)))
    elif info.labels == "values":
        assert data.y.dtype == np.float32 and data.y.shape == (len(data.x), info.targets)
    elif info.labels == "sequences":  # token id targets, padded with 0: ids of the source's vocabulary
        assert info.vocab is not None and data.y.dtype == np.int64 and data.y.ndim == 2
        assert 0 <= data.y.min() and data.y.max() < len(info.vocab)
    else:
        assert data.y.dtype == np.float32 and data.y.shape == (len(data.x), 0) and info.outputs is None


@pytest.mark.parametrize("name", sorted(set(sources.names()) - {"csv", "npz"}))
@pytest.mark.parametrize("hint", ["classes", "values"])
def test_sources_with_fixed_labels_ignore_the_hint(name, hint, source_args, tmp_path):
    """Only files have a column that reads either way (see test_data_files); any other source's
    labels are what they are, and every task may use it."""
    src = sources.get(name)()
    a = src.Args(**source_args(name))
    assert src.info(a, tmp_path, labels=hint) == src.info(a, tmp_path)


@pytest.mark.parametrize("hint", [None, "classes", "values"])
def test_digits_has_class_labels_whatever_the_hint(hint):
    src = sources.get("digits")()
    data = src.load(src.Args(), None, labels=hint)
    assert data.info.labels == "classes" and data.info.classes == [str(i) for i in range(10)]
    assert data.y.dtype == np.int64 and data.y.shape == (1797,) and data.info.outputs == 10
    assert data.info.class_counts == np.bincount(data.y).tolist()


def test_digits():
    src = sources.get("digits")()
    data = src.load(src.Args(), None)
    assert data.x.shape == (1797, 1, 8, 8) and data.info.layout == "image"
    assert data.x.min() == 0 and data.x.max() == 16
    assert data.info.classes == [str(i) for i in range(10)]


def test_diabetes_has_value_labels():
    src = sources.get("diabetes")()
    data = src.load(src.Args(), None)
    assert data.info.labels == "values" and data.y.shape == (442, 1) and data.info.outputs == 1


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_deterministic_per_seed(name):
    src = sources.get(name)()
    first, again = src.load(src.Args(seed=3, size=200), None), src.load(src.Args(seed=3, size=200), None)
    other = src.load(src.Args(seed=4, size=200), None)
    assert first.digest() == again.digest()
    assert not np.array_equal(first.x, other.x)
    assert first.x.shape == (200, 2)


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_args_are_checked(name):
    src = sources.get(name)()
    with pytest.raises(ValueError):
        src.Args(size=1)
    with pytest.raises(ValueError):
        src.Args(noise=-0.1)
    with pytest.raises(ValueError):
        src.Args(sizes=10)


def test_blobs_classes_and_features():
    src = sources.get("blobs")()
    a = src.Args(classes=5, features=3, size=100)
    data = src.load(a, None)
    assert data.x.shape == (100, 3) and data.info.classes == ["0", "1", "2", "3", "4"]


def test_spirals_arms_are_balanced_and_on_their_arm():
    src = sources.get("spirals")()
    a = src.Args(classes=3, turns=1.0, noise=0.0, size=300)
    data = src.load(a, None)
    assert np.bincount(data.y).tolist() == [100, 100, 100]
    radius = np.hypot(data.x[:, 0], data.x[:, 1])
    angle = np.arctan2(data.x[:, 1], data.x[:, 0])
    expected = 2 * np.pi * (radius * a.turns + data.y / 3)
    assert np.allclose(np.cos(angle), np.cos(expected), atol=1e-4)
    assert np.allclose(np.sin(angle), np.sin(expected), atol=1e-4)
