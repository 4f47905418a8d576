"""ring8 and grid25: the 2-D Gaussian mixtures GANs are scored on."""
from __future__ import annotations

import numpy as np
import pytest

import dlcli.data  # noqa: F401  (fills the registries)
from dlcli.data.base import sources

MIXTURES = ["ring8", "grid25"]


def test_ring8_modes_sit_on_the_circle():
    src = sources.get("ring8")()
    modes = src.modes(src.Args())
    assert modes.shape == (8, 2) and src.mode_std(src.Args()) == 0.02
    np.testing.assert_allclose(np.hypot(modes[:, 0], modes[:, 1]), 2.0)
    np.testing.assert_allclose(modes[0], [2.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(modes[2], [0.0, 2.0], atol=1e-12)  # counter-clockwise, 45 degrees apart
    wider = src.modes(src.Args(modes=5, radius=3.0))
    assert wider.shape == (5, 2)
    np.testing.assert_allclose(np.hypot(wider[:, 0], wider[:, 1]), 3.0)


def test_grid25_modes_are_the_grid_row_major():
    src = sources.get("grid25")()
    modes = src.modes(src.Args())
    assert modes.shape == (25, 2) and src.mode_std(src.Args()) == 0.05
    c = [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert modes.tolist() == [[a, b] for a in c for b in c]
    assert src.modes(src.Args(side=2, spacing=1.0)).tolist() == [[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]]


@pytest.mark.parametrize("name", MIXTURES)
def test_shapes_and_balanced_labels(name):
    src = sources.get(name)()
    a = src.Args(size=203)
    data = src.load(a, None)
    k = len(src.modes(a))
    assert data.x.shape == (203, 2) and data.x.dtype == np.float32
    assert data.y.shape == (203,) and data.y.dtype == np.int64
    counts = np.bincount(data.y, minlength=k)
    assert counts.max() - counts.min() == 1 and counts[: 203 % k].min() == counts.max()  # dealt in turn
    assert not np.array_equal(data.y, np.arange(203) % k)  # shuffled


@pytest.mark.parametrize("name", MIXTURES)
def test_info_agrees_with_load_and_is_known_without_generating(name, monkeypatch):
    src = sources.get(name)()
    a = src.Args(size=301, seed=4)
    monkeypatch.setattr(np.random, "default_rng", lambda *args: pytest.fail("info generated samples"))
    info = src.info(a, None, labels="values")  # the hint is for files
    monkeypatch.undo()
    data = src.load(a, None)
    assert info == data.info
    assert (info.labels, info.input_shape, info.layout, info.samples) == ("classes", (2,), "tabular", 301)
    assert info.class_counts == np.bincount(data.y, minlength=len(info.classes)).tolist()
    assert info.classes == [str(i) for i in range(len(src.modes(a)))] and info.outputs == len(src.modes(a))


@pytest.mark.parametrize("name", MIXTURES)
def test_deterministic_per_seed(name):
    src = sources.get(name)()
    first, again = src.load(src.Args(seed=7), None), src.load(src.Args(seed=7), None)
    other = src.load(src.Args(seed=8), None)
    assert first.digest() == again.digest()
    assert not np.array_equal(first.x, other.x) and not np.array_equal(first.y, other.y)


@pytest.mark.parametrize("name, args", [("ring8", {}), ("grid25", {}), ("ring8", {"std": 0.3, "modes": 3}),
                                        ("grid25", {"std": 0.2, "side": 3, "spacing": 1.5})])
def test_every_sample_is_near_its_own_mode(name, args):
    src = sources.get(name)()
    a = src.Args(**args)
    data = src.load(a, None)
    modes, std = src.modes(a), src.mode_std(a)
    offset = data.x - modes[data.y]
    assert np.hypot(offset[:, 0], offset[:, 1]).max() < 6 * std
    assert offset.std(0) == pytest.approx([std, std], rel=0.1)  # the spread is the stated one, on both axes
    assert np.abs(offset.mean(0)).max() < 0.1 * std


@pytest.mark.parametrize("name, bad", [("ring8", {"size": 0}), ("ring8", {"radius": 0}), ("ring8", {"std": -1}),
                                       ("ring8", {"modes": 0}), ("grid25", {"side": 0}), ("grid25", {"spacing": -2}),
                                       ("grid25", {"sigma": 1})])
def test_arguments_are_checked(name, bad):
    with pytest.raises(ValueError):
        sources.get(name)().Args(**bad)
