"""Normalisers: shapes per layout, statistics from the train split only, no division by zero."""
from __future__ import annotations

import numpy as np
import pytest

import dlcli.data  # noqa: F401
from dlcli.data.base import normalizers
from dlcli.registry import first_line

RNG = np.random.default_rng(0)
CASES = {
    "tabular": (RNG.normal(3, 2, (50, 4)).astype(np.float32), (4,)),
    "sequence": (RNG.normal(3, 2, (50, 7, 3)).astype(np.float32), (3,)),
    "image": (RNG.uniform(0, 255, (50, 2, 5, 5)).astype(np.float32), (2, 1, 1)),
}


@pytest.mark.parametrize("name", normalizers.names())
@pytest.mark.parametrize("layout", list(CASES))
def test_stats_shape_dtype_and_broadcast(name, layout):
    x, shape = CASES[layout]
    shift, scale = normalizers.get(name)().fit(x, layout)
    assert first_line(normalizers.get(name))
    assert shift.shape == scale.shape == shape and shift.dtype == scale.dtype == np.float32
    assert np.all(scale > 0) and ((x[0] - shift) / scale).shape == x[0].shape


def test_standard_uses_only_the_array_given():
    x, _ = CASES["tabular"]
    train = x[:20]
    shift, scale = normalizers.get("standard")().fit(train, "tabular")
    assert np.allclose(shift, train.mean(axis=0), atol=1e-5)
    assert not np.allclose(shift, x.mean(axis=0), atol=1e-5)
    z = (train - shift) / scale
    assert np.allclose(z.mean(axis=0), 0, atol=1e-5) and np.allclose(z.std(axis=0), 1, atol=1e-5)


def test_image_stats_are_per_channel():
    x, _ = CASES["image"]
    shift, _ = normalizers.get("standard")().fit(x, "image")
    assert np.allclose(shift[:, 0, 0], x.mean(axis=(0, 2, 3)), rtol=1e-5)


def test_minmax_maps_train_to_unit_range():
    x, _ = CASES["sequence"]
    shift, scale = normalizers.get("minmax")().fit(x, "sequence")
    z = (x - shift) / scale
    assert np.allclose(z.min(axis=(0, 1)), 0, atol=1e-6) and np.allclose(z.max(axis=(0, 1)), 1, atol=1e-6)


@pytest.mark.parametrize("name", normalizers.names())
def test_constant_feature_gets_scale_one(name):
    x = np.stack([np.full(10, 7.0), np.arange(10.0)], axis=1).astype(np.float32)
    shift, scale = normalizers.get(name)().fit(x, "tabular")
    assert scale[0] == 1.0 and np.all(np.isfinite((x - shift) / scale))


def test_empty_train_split_is_an_error():
    with pytest.raises(ValueError):
        normalizers.get("standard")().fit(np.zeros((0, 3), np.float32), "tabular")
