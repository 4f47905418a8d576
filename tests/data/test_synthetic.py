"""synthetic_images: raw uint8 images, seeded, balanced, cheap to describe, and learnable."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import dlcli.data  # noqa: F401  (fills the registries)
from dlcli.data.base import sources


def load(**args):
    src = sources.get("synthetic_images")()
    return src.load(src.Args(**args), None)


def test_shape_dtype_and_range():
    data = load(samples=300, shape=[1, 12, 20], classes=4)
    assert data.x.shape == (300, 1, 12, 20) and data.x.dtype == np.uint8
    assert data.y.shape == (300,) and data.y.dtype == np.int64
    assert data.x.min() < 20 and data.x.max() > 235  # the whole 0..255 range is used
    assert data.info.layout == "image" and data.info.classes == ["0", "1", "2", "3"]


def test_the_same_seed_gives_the_same_images_and_another_seed_others():
    first, again, other = load(samples=200, seed=3), load(samples=200, seed=3), load(samples=200, seed=4)
    assert first.digest() == again.digest()
    assert not np.array_equal(first.x, other.x) and not np.array_equal(first.y, other.y)


def test_classes_are_balanced_and_shuffled():
    y = load(samples=1003, classes=10).y
    counts = np.bincount(y, minlength=10)
    assert counts.min() == 100 and counts.max() == 101
    assert len(set(y[:20].tolist())) > 5  # no class runs in row order


def test_info_matches_load_and_imports_neither_torch_nor_sklearn():
    code = ("import sys; from pathlib import Path; import dlcli.data as d; s = d.sources.get('synthetic_images')(); "
            "i = s.info(s.Args(), Path('.')); print(i.input_shape, i.classes[-1]); "
            "assert not {'torch', 'sklearn'} & set(sys.modules), 'info imported a heavy module'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["(3,", "32,", "32)", "9"]
    src = sources.get("synthetic_images")()
    a = src.Args(samples=50, shape=[2, 8, 8], classes=3)
    info, data = src.info(a, None), src.load(a, None)
    assert data.x.shape[1:] == info.input_shape and data.info.classes == info.classes == ["0", "1", "2"]


def spectrum_centroid_accuracy(noise: float) -> float:
    """Held-out accuracy of nearest class centroid on the low-frequency |FFT| of each image:
    a shift-invariant linear-time classifier, a floor for what a CNN can learn."""
    data = load(samples=4000, noise=noise, seed=1)
    f = np.abs(np.fft.rfft2(data.x.astype(np.float32)))[:, :, :4, :4].reshape(len(data.x), -1)
    train, test = slice(0, 3000), slice(3000, None)
    f = (f - f[train].mean(0)) / f[train].std(0)
    centroids = np.stack([f[train][data.y[train] == k].mean(0) for k in range(10)])
    guess = ((f[test, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)
    return float((guess == data.y[test]).mean())


def test_classes_are_learnable_and_noise_makes_them_harder():
    clean, default, noisy = (spectrum_centroid_accuracy(n) for n in (0.0, 1.0, 2.0))
    assert clean > 0.95 > default > 0.4 > noisy > 0.15  # chance is 0.1


def test_arguments_are_checked():
    src = sources.get("synthetic_images")()
    for bad in ({"samples": 0}, {"shape": [3, 32]}, {"shape": [0, 8, 8]}, {"classes": 1}, {"noise": -1.0},
                {"size": 10}):
        with pytest.raises(ValueError):
            src.Args(**bad)
    assert src.info(src.Args(), None, labels="values").labels == "classes"  # the hint is for files
