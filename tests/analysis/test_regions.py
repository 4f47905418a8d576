"""Exact linear regions: counts against hand answers (line arrangements, hand-built deep nets),
grid sampling (never more, the same patterns), the affine maps against the network itself, the
upper bounds against brute force, and the errors a user can meet."""
from __future__ import annotations

import itertools
import json
import math
import re

import numpy as np
import pytest
import torch
from torch import nn

from dlcli.analysis import regions as R
from dlcli.analysis.regions import (Plane, decision_boundary, exact_regions, grid_regions, hidden_widths, plane_for,
                                    serra_bound, zaslavsky_bound)
from dlcli.analysis.regions_plot import draw_regions
from dlcli.errors import UsageError
from dlcli.nn.model import build_model, plan_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def one_thread():
    """Small matrices: extra threads only contend (conftest puts the count back)."""
    torch.set_num_threads(1)


def input_plane(box) -> Plane:
    eye = torch.eye(2, dtype=torch.float64)
    return Plane(torch.zeros(2, dtype=torch.float64), eye[0], eye[1], tuple(float(b) for b in box))


def lines_net(weight: np.ndarray, bias: np.ndarray, act: nn.Module | None = None) -> nn.Sequential:
    """2 -> D hidden (the D lines w_i . x + b_i = 0) -> 1."""
    first = nn.Linear(2, len(weight)).double()
    first.weight.data = torch.as_tensor(weight, dtype=torch.float64)
    first.bias.data = torch.as_tensor(bias, dtype=torch.float64)
    return nn.Sequential(first, act or nn.ReLU(), nn.Linear(len(weight), 1).double())


def box_around(weight: np.ndarray, bias: np.ndarray, offsets=(0.0,)) -> tuple:
    """A box holding every crossing of the lines w_i . x = level - b_i (each level in offsets) and a
    point of each line, with a unit margin."""
    points = [(level - bias[i]) * w / (w @ w) for i, w in enumerate(weight) for level in offsets]
    for (i, a), (j, b) in itertools.combinations([(i, o) for i in range(len(weight)) for o in offsets], 2):
        if i != j:
            points.append(np.linalg.solve(weight[[i, j]], [a - bias[i], b - bias[j]]))
    points = np.array(points)
    lo, hi = points.min(0) - 1, points.max(0) + 1
    return (lo[0], hi[0], lo[1], hi[1])


def general_lines(d: int, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(d, 2)), rng.normal(size=d)


def centroid(p: np.ndarray) -> np.ndarray:
    x, y = p[:, 0], p[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    return np.array([((x + xn) * cross).sum(), ((y + yn) * cross).sum()]) / (3 * cross.sum())


def area(p: np.ndarray) -> float:
    return float(abs((p[:, 0] * np.roll(p[:, 1], -1) - np.roll(p[:, 0], -1) * p[:, 1]).sum()) / 2)


def map_error(net: nn.Module, plane: Plane, result) -> float:
    """The largest gap between each region's affine map and the network at the region's centroid."""
    net64 = R._float64(net)
    points = np.stack([centroid(p) for p in result.polygons])
    with torch.no_grad():
        out = net64(plane.at(points)).reshape(len(points), -1).numpy()
    mapped = np.stack([a.T @ c + b for (a, b), c in zip(result.maps, points)])
    return float(np.abs(out - mapped).max())


def assert_tiling(result) -> None:
    """The regions cover the box once: areas sum to it, every pattern distinct."""
    assert sum(area(p) for p in result.polygons) == pytest.approx(result.area, rel=1e-9)
    assert len(set(result.patterns)) == result.count


def built(spec: list, shape: tuple, outputs: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(plan_model(spec, shape, outputs)).eval()


# ---- counts with a known answer ---------------------------------------------------------------

@pytest.mark.parametrize("d", [1, 3, 8, 20])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shallow_relu_net_has_the_regions_of_its_line_arrangement(d, seed):
    weight, bias = general_lines(d, seed)
    net, plane = lines_net(weight, bias), input_plane(box_around(weight, bias))
    result = exact_regions(net, plane)
    assert result.count == 1 + d + d * (d - 1) // 2
    assert_tiling(result)
    assert map_error(net, plane, result) < 1e-8
    assert result.density == pytest.approx(result.count / plane.area)


def test_parallel_lines_cut_the_plane_into_stripes():
    direction = np.array([0.6, -0.8])
    weight = np.array([[s * direction[0], s * direction[1]] for s in (1.0, -2.0, 0.5, 3.0, -1.5)])
    bias = np.array([0.3, 1.0, -0.4, 2.5, 0.0])
    result = exact_regions(lines_net(weight, bias), input_plane((-4, 4, -4, 4)))
    assert result.count == len(weight) + 1
    assert_tiling(result)


def test_relu_of_relu_adds_no_cut():
    weight, bias = general_lines(6, 3)
    net = lines_net(weight, bias)
    identity = nn.Linear(6, 6).double()
    identity.weight.data, identity.bias.data = torch.eye(6, dtype=torch.float64), torch.zeros(6, dtype=torch.float64)
    deep = nn.Sequential(net[0], nn.ReLU(), identity, nn.ReLU(), net[2])
    result = exact_regions(deep, input_plane(box_around(weight, bias)))
    assert result.count == 1 + 6 + 15


def test_hand_built_two_layer_net_has_seven_regions():
    # layer 1: relu(x1), relu(x2) -- four quadrants; layer 2: relu(h1 + h2 - 1) cuts the three
    # quadrants where some h is live (x1 + x2 = 1, x1 = 1, x2 = 1) and not the dead one
    first = nn.Linear(2, 2).double()
    first.weight.data, first.bias.data = torch.eye(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    second = nn.Linear(2, 1).double()
    second.weight.data = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    second.bias.data = torch.tensor([-1.0], dtype=torch.float64)
    net = nn.Sequential(first, nn.ReLU(), second, nn.ReLU(), nn.Linear(1, 2).double())
    plane = input_plane((-2, 2, -2, 2))
    result = exact_regions(net, plane)
    assert result.count == 7
    assert grid_regions(net, plane, 128) == 7
    assert map_error(net, plane, result) < 1e-8


@pytest.mark.parametrize("d", [1, 4, 7])
def test_leaky_relu_counts_like_relu(d):
    weight, bias = general_lines(d, 10 + d)
    net = lines_net(weight, bias, nn.LeakyReLU(0.1))
    plane = input_plane(box_around(weight, bias))
    result = exact_regions(net, plane)
    assert result.count == 1 + d + d * (d - 1) // 2
    assert map_error(net, plane, result) < 1e-8


@pytest.mark.parametrize("d", [1, 3, 5])
def test_hardtanh_cuts_two_parallel_lines_per_unit(d):
    # 2d lines in d parallel pairs: 1 + 2d + 4 * C(d, 2) regions once the box holds every crossing
    weight, bias = general_lines(d, 20 + d)
    net = lines_net(weight, bias, nn.Hardtanh(-0.5, 1.0))
    plane = input_plane(box_around(weight, bias, offsets=(-0.5, 1.0)))
    result = exact_regions(net, plane)
    assert result.count == 1 + 2 * d + 4 * math.comb(d, 2)
    assert_tiling(result)
    assert map_error(net, plane, result) < 1e-8


# ---- the grid count -----------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [[{"linear": 12}, "relu", {"linear": "auto"}],
                                  [{"linear": 16}, "relu", {"linear": 16}, "relu", {"linear": 16}, "relu",
                                   {"linear": "auto"}]])
def test_grid_finds_a_subset_of_the_exact_patterns(spec):
    net = built(spec, (2,))
    plane = input_plane((-3, 3, -3, 3))
    result = exact_regions(net, plane)
    found = R._grid_patterns(net, plane, 200)
    assert len(found) == grid_regions(net, plane, 200) <= result.count
    assert set(found.tolist()) <= set(result.patterns)
    assert map_error(net, plane, result) < 1e-8


def test_grid_finds_every_region_of_well_separated_lines():
    weight, bias = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.array([0.0, 0.0, -1.0])
    net, plane = lines_net(weight, bias), input_plane((-2, 3, -2, 3))
    assert exact_regions(net, plane).count == grid_regions(net, plane, 256) == 7


# ---- layers beyond the MLP ---------------------------------------------------------------------

def conv_net() -> nn.Module:
    net = built([{"conv2d": 3}, "relu", {"maxpool": 2}, "batchnorm", "flatten", {"linear": 6}, "relu",
                 {"linear": "auto"}], (1, 4, 4))
    bn = next(m for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    gen = torch.Generator().manual_seed(5)  # running statistics a trained net might have
    bn.running_mean.copy_(torch.rand(3, generator=gen) - 0.5)
    bn.running_var.copy_(torch.rand(3, generator=gen) + 0.5)
    bn.weight.data.copy_(torch.rand(3, generator=gen) + 0.5)
    bn.bias.data.copy_(torch.rand(3, generator=gen) - 0.5)
    return net


def test_conv_maxpool_batchnorm_regions_match_the_network():
    net = conv_net()
    x = torch.randn(8, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    plane = plane_for(x, "0,1,2")
    result = exact_regions(net, plane)
    assert result.count >= grid_regions(net, plane, 128) > 1
    assert map_error(net, plane, result) < 1e-8
    assert_tiling(result)
    assert set(R._grid_patterns(net, plane, 128).tolist()) <= set(result.patterns)


def test_overlapping_padded_1d_maxpool_matches_the_network():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv1d(1, 3, 3), nn.ReLU(), nn.MaxPool1d(3, 2, padding=1, ceil_mode=True), nn.Flatten(),
                        nn.Linear(12, 2))
    plane = plane_for(torch.randn(5, 1, 8, generator=torch.Generator().manual_seed(1)), "auto")
    result = exact_regions(net, plane)
    assert result.count >= grid_regions(net, plane, 128)
    assert map_error(net, plane, result) < 1e-8
    assert_tiling(result)


def test_maxpool_over_equal_inputs_keeps_one_piece_per_winner():
    # max(x1, x1, x2): the two equal candidates tie everywhere, so there are two regions, not three
    spread = nn.Linear(2, 3, bias=False).double()
    spread.weight.data = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    net = nn.Sequential(spread, nn.Unflatten(1, (1, 3)), nn.MaxPool1d(3), nn.Flatten())
    plane = input_plane((-1, 1, -1, 1))
    result = exact_regions(net, plane)
    assert result.count == 2
    assert_tiling(result)
    assert map_error(net, plane, result) < 1e-12


@pytest.mark.parametrize("spec", [
    [{"linear": 8}, "relu", {"residual": [{"linear": 8}, "relu"]}, {"residual": [{"linear": 5}, "relu"]},
     {"linear": "auto"}],
    [{"linear": 8}, "relu", {"parallel": {"branches": [[{"linear": 4}, "relu"], []], "merge": "concat"}},
     {"linear": "auto"}],
    [{"linear": 6}, "relu", {"parallel": {"branches": [[{"linear": 6}, "relu"], [{"linear": 6}]], "merge": "sum"}},
     {"linear": "auto"}],
])
def test_residual_and_parallel_maps_match_the_network(spec):
    net = built(spec, (2,))
    plane = input_plane((-3, 3, -3, 3))
    result = exact_regions(net, plane)
    assert map_error(net, plane, result) < 1e-8
    assert_tiling(result)
    assert result.count >= grid_regions(net, plane, 128)


@pytest.mark.parametrize("spec, shape, layer", [
    ([{"linear": 4}, "sigmoid", {"linear": "auto"}], (2,), "layer 1 (Sigmoid)"),
    ([{"linear": 4}, "relu", {"residual": [{"linear": 4}, "tanh"]}, {"linear": "auto"}], (2,),
     "layer 2.body.1 (Tanh)"),
    ([{"lstm": 4}, {"linear": "auto"}], (3, 2), "layer 0 (LSTM)"),
])
def test_layers_that_are_not_piecewise_linear_are_named(spec, shape, layer):
    net = built(spec, shape)
    plane = plane_for(torch.randn(4, *shape), "0,1,2")
    with pytest.raises(UsageError, match=r"regions needs a piecewise-linear network: " + re.escape(layer)
                       + r" of net is not piecewise linear \(relu, leaky_relu"):
        exact_regions(net, plane)
    with pytest.raises(UsageError, match=re.escape(layer)):
        grid_regions(net, plane, 8)


# ---- the plane ---------------------------------------------------------------------------------

def test_input_plane_spans_the_data_with_a_margin():
    x = torch.tensor([[0.0, 1.0], [2.0, -1.0], [1.0, 3.0]])
    plane = plane_for(x, "auto")
    assert plane.box == pytest.approx((-0.2, 2.2, -1.4, 3.4))
    assert plane.samples is None and plane.axes[0].startswith("x1")
    assert np.allclose(plane.project(x), x.numpy())


def test_sample_plane_puts_the_samples_at_the_corners():
    x = torch.randn(6, 1, 3, 3, generator=torch.Generator().manual_seed(2))
    plane = plane_for(x, "4, 1, 2")
    assert plane.samples == (4, 1, 2) and plane.box == (-0.25, 1.25, -0.25, 1.25)
    corners = plane.at(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    assert torch.allclose(corners, x[[4, 1, 2]].double())
    assert np.allclose(plane.project(x[[4, 1, 2]]), [[0, 0], [1, 0], [0, 1]])


def test_auto_plane_takes_the_first_samples_of_distinct_classes():
    x = torch.randn(7, 1, 2, 2, generator=torch.Generator().manual_seed(3))
    assert plane_for(x, "auto", labels=torch.tensor([2, 2, 0, 2, 1, 0, 1])).samples == (0, 2, 4)
    assert plane_for(x, "auto").samples == (0, 1, 2)
    x[1] = x[0]  # a repeated sample spans nothing: the next one is taken
    assert plane_for(x, "auto").samples == (0, 2, 3)


@pytest.mark.parametrize("mode, message", [
    ("0,1,900", r"--plane index 900 is outside the 150 samples \(0\.\.149\)"),
    ("3,3,5", r"three different samples, got '3,3,5'"),
    ("1,2", r"--plane expects auto, input or three sample indices i,j,k \(e\.g\. 0,1,2\), got '1,2'"),
    ("diagonal", r"got 'diagonal'"),
    ("input", r"--plane input needs 2-D inputs \(samples of shape \(2,\)\), got samples of shape \(1, 2, 2\)"),
    ("0,1,2", r"--plane samples 0,1,2 are collinear"),
])
def test_plane_errors_say_what_was_expected(mode, message):
    x = torch.randn(150, 1, 2, 2, generator=torch.Generator().manual_seed(4))
    x[2] = 3 * x[1] - 2 * x[0]  # on the line through samples 0 and 1
    with pytest.raises(UsageError, match=message):
        plane_for(x, mode)


# ---- bounds ------------------------------------------------------------------------------------

def brute_serra(widths: list, n_in: int) -> int:
    total = 0
    for js in itertools.product(*[range(min(n_in, w) + 1) for w in widths]):
        caps = [n_in]
        for j, w in zip(js, widths):
            caps.append(min(caps[-1], w - j))
        if all(j <= min(cap, w) for j, cap, w in zip(js, caps, widths)):
            total += math.prod(math.comb(w, j) for j, w in zip(js, widths))
    return total


def test_zaslavsky_bound_known_values():
    assert [zaslavsky_bound(d) for d in (0, 1, 3, 8, 20)] == [1, 2, 7, 37, 211]
    assert zaslavsky_bound(5, 3) == 1 + 5 + 10 + 10
    assert zaslavsky_bound(2, 3) == 4  # fewer hyperplanes than dimensions: every sign pattern


@pytest.mark.parametrize("widths, n_in", [([3, 4, 2, 5], 2), ([2, 1, 3], 2), ([4, 4, 4], 3), ([6, 2, 6, 3], 3)])
def test_serra_bound_matches_brute_force_over_j(widths, n_in):
    assert serra_bound(widths, n_in) == brute_serra(widths, n_in)


def test_serra_bound_of_one_layer_is_zaslavsky_and_deep_is_exact_ints():
    assert all(serra_bound([d], 2) == zaslavsky_bound(d, 2) for d in range(0, 30))
    assert serra_bound([64] * 3, 2) == brute_serra([64] * 3, 2)
    assert serra_bound([3] * 8, 2) == brute_serra([3] * 8, 2)
    deep = serra_bound([100] * 40, 2)  # 3^40 terms by brute force: the DP keeps 3 states
    assert isinstance(deep, int) and zaslavsky_bound(100) ** 39 < deep <= zaslavsky_bound(100) ** 40


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_count_of_deep_nets_stays_under_serra_bound(seed):
    net = built([{"linear": 6}, "relu", {"linear": 5}, "relu", {"linear": 4}, "relu", {"linear": "auto"}], (2,),
                seed=seed)
    result = exact_regions(net, input_plane((-20, 20, -20, 20)))
    assert 1 < result.count <= serra_bound(hidden_widths(net), 2)


def test_hidden_widths_of_plain_mlps_only():
    mlp = built([{"linear": 8}, "relu", {"linear": 5}, "leaky_relu", {"linear": "auto"}], (2,))
    assert hidden_widths(mlp) == [8, 5]
    assert hidden_widths(conv_net()) is None
    assert hidden_widths(built([{"linear": 8}, "relu", {"residual": [{"linear": 8}, "relu"]}, {"linear": "auto"}],
                               (2,))) is None
    assert hidden_widths(built([{"linear": 8}, "hardtanh", {"linear": "auto"}], (2,))) is None


# ---- the picture -------------------------------------------------------------------------------

def test_decision_boundary_of_a_linear_classifier_is_its_line():
    head = nn.Linear(2, 2).double()
    head.weight.data = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)  # tie where x1 = 0.5
    head.bias.data = torch.tensor([-0.5, 0.0], dtype=torch.float64)
    result = exact_regions(nn.Sequential(head), input_plane((-1, 2, -1, 3)))
    (segment,) = decision_boundary(result)
    assert np.allclose(sorted(segment.tolist(), key=lambda p: p[1]), [[0.5, -1.0], [0.5, 3.0]])


def test_draw_regions_writes_the_png_and_its_numbers(tmp_path):
    net = built([{"linear": 8}, "relu", {"linear": 8}, "relu", {"linear": "auto"}], (2,))
    x = torch.randn(40, 2, generator=torch.Generator().manual_seed(6))
    labels = torch.randint(0, 3, (40,), generator=torch.Generator().manual_seed(6))
    plane = plane_for(x, "input")
    result = exact_regions(net, plane)
    png, js = draw_regions(result, plane, tmp_path, points=x, labels=labels, classes=["a", "b", "c"], title="mlp")
    assert png == tmp_path / "regions.png" and png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 5000
    data = json.loads(js.read_text())
    assert data["count"] == result.count == len(data["polygons"])
    assert data["box"] == pytest.approx(list(plane.box)) and data["density"] == pytest.approx(result.density)
    assert np.allclose(data["polygons"][0], result.polygons[0])
