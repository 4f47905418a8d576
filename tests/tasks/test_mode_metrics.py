"""Mode coverage metrics (VEEGAN definitions) on constructed samples with known answers."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dlcli.tasks.mode_metrics import assign, capture_threshold, mode_metrics

STD = 0.05


def ring(k: int, radius: float = 2.0) -> np.ndarray:
    angles = 2 * np.pi * np.arange(k) / k
    return radius * np.stack([np.cos(angles), np.sin(angles)], 1)


def grid25() -> np.ndarray:
    return np.array([(x, y) for x in range(-4, 5, 2) for y in range(-4, 5, 2)], dtype=float)


def around(modes: np.ndarray, per_mode: int, seed: int = 0) -> np.ndarray:
    """per_mode samples at each mode, jittered well inside 3 std."""
    rng = np.random.default_rng(seed)
    points = np.repeat(modes, per_mode, axis=0)
    return points + rng.uniform(-STD, STD, points.shape)


def test_perfect_coverage():
    modes = ring(8)
    result = mode_metrics(around(modes, 50), modes, STD)
    assert result["modes_captured"] == 8
    assert result["high_quality"] == 1.0
    assert result["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    assert result["samples"] == 400


def test_one_mode_only():
    modes = ring(8)
    samples = around(modes[[3]], 400)
    result = mode_metrics(samples, modes, STD)
    assert result["modes_captured"] == 1
    assert result["high_quality"] == 1.0
    assert result["reverse_kl"] == pytest.approx(math.log(8))


def test_half_far_away():
    modes = ring(8)
    good = around(modes, 25)
    far = np.full_like(good, 50.0)
    result = mode_metrics(np.concatenate([good, far]), modes, STD)
    assert result["high_quality"] == 0.5
    assert result["modes_captured"] == 8
    assert result["reverse_kl"] == pytest.approx(0.0, abs=1e-12)  # only high-quality samples count


def test_three_std_boundary():
    modes = np.array([[0.0, 0.0], [10.0, 0.0]])
    samples = np.array([[3 * STD, 0.0], [0.0, 3 * STD * 1.001], [10.0, -3 * STD * 0.999]])
    nearest, near = assign(samples, modes, STD)
    assert nearest.tolist() == [0, 0, 1]
    assert near.tolist() == [True, False, True]


def test_grid_of_25():
    modes = grid25()
    result = mode_metrics(around(modes, 100), modes, STD)
    assert (result["modes_captured"], result["high_quality"]) == (25, 1.0)
    assert result["reverse_kl"] == pytest.approx(0.0, abs=1e-12)


def test_sparse_mode_is_lost():
    """A mode with fewer than 5% of its fair share is not captured (VEEGAN: < 20 of 2500 lost)."""
    modes = grid25()
    counts = np.full(25, 104)
    counts[0] = 4  # fair share 2500 / 25 = 100, threshold 5
    samples = np.concatenate([around(modes[[i]], c, seed=i) for i, c in enumerate(counts)])
    assert capture_threshold(len(samples), 25) == pytest.approx(5.0)
    assert mode_metrics(samples, modes, STD)["modes_captured"] == 24


def test_threshold_at_least_one():
    assert capture_threshold(10, 25) == 1.0
    modes = grid25()
    assert mode_metrics(modes[:3], modes, STD)["modes_captured"] == 3


def test_no_high_quality_sample():
    modes = ring(4)
    result = mode_metrics(np.full((10, 2), 100.0), modes, STD)
    assert result == {"modes_captured": 0, "high_quality": 0.0, "reverse_kl": float("inf"), "samples": 10}


def test_plain_json_types():
    modes = ring(4)
    result = mode_metrics(around(modes, 5), modes, STD)
    assert all(type(v) in (int, float) for v in result.values())
    assert type(result["modes_captured"]) is int and type(result["samples"]) is int
    json.dumps(result)


def test_uneven_split_reverse_kl():
    """Two of four modes, 3:1: KL = 0.75 log(0.75 * 4) + 0.25 log(0.25 * 4)."""
    modes = ring(4)
    samples = np.concatenate([around(modes[[0]], 30), around(modes[[1]], 10)])
    expected = 0.75 * math.log(3.0) + 0.25 * math.log(1.0)
    assert mode_metrics(samples, modes, STD)["reverse_kl"] == pytest.approx(expected)
