"""Input normalisers: statistics fitted on the train split, applied as (x - shift) / scale.

`fit` returns float32 (shift, scale) shaped to broadcast against one sample and against a batch:
(C, 1, 1) per channel for images, (F,) per feature on the last axis for tabular and sequence
data. A constant channel or feature gets scale 1, so normalising never divides by zero.
"""
from __future__ import annotations

import numpy as np

from dlcli.data.base import Layout, normalizers


def stat_axes(x: np.ndarray, layout: Layout) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(axes to reduce over, shape of the statistics) for a batch x (N, ...)."""
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"cannot fit a normaliser on an array of shape {x.shape}; expected (N, ...) with N > 0")
    if layout == "image":
        if x.ndim != 4:
            raise ValueError(f"image data must be (N, C, H, W), got shape {x.shape}")
        return (0, 2, 3), (x.shape[1], 1, 1)
    return tuple(range(x.ndim - 1)), (x.shape[-1],)


def safe_scale(scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Scale 1 where a channel or feature is (numerically) constant."""
    tiny = 1e-7 * np.maximum(1.0, np.abs(shift))
    return np.where(scale > tiny, scale, 1.0)


def as_stats(shift: np.ndarray, scale: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    return shift.reshape(shape).astype(np.float32), safe_scale(scale, shift).reshape(shape).astype(np.float32)


@normalizers.register("none")
class NoNormalization:
    """Leave inputs as they are (shift 0, scale 1)."""

    def fit(self, x_train: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
        _, shape = stat_axes(x_train, layout)
        return np.zeros(shape, np.float32), np.ones(shape, np.float32)


@normalizers.register("standard")
class Standard:
    """Subtract the train mean and divide by the train standard deviation, per channel or feature."""

    def fit(self, x_train: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
        axes, shape = stat_axes(x_train, layout)
        x = x_train.astype(np.float64, copy=False)  # float32 sums drift on large arrays
        return as_stats(x.mean(axis=axes), x.std(axis=axes), shape)


@normalizers.register("minmax")
class MinMax:
    """Rescale each channel or feature to [0, 1] using the train minimum and maximum."""

    def fit(self, x_train: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
        axes, shape = stat_axes(x_train, layout)
        lo, hi = x_train.min(axis=axes).astype(np.float64), x_train.max(axis=axes).astype(np.float64)
        return as_stats(lo, hi - lo, shape)
