"""Loss landscapes: the line between two weight sets, filter-normalised directions, the 2-D
slice, and their pictures; every one leaves the network's weights as it found them."""
from __future__ import annotations

import csv
import copy

import numpy as np
import pytest
import torch
from torch import nn

from dlcli.analysis.landscape import filter_normalized_direction, interpolation, slice_2d
from dlcli.analysis.spectrum import LossSet
from dlcli.analysis.spectrum_plot import draw_landscape
from dlcli.errors import UsageError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)  # tiny tensors: extra threads only contend (conftest puts the count back)


def make_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 3)).double().eval()


def state(net: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def setup():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(24, 3, generator=gen, dtype=torch.float64), torch.randint(0, 3, (24,), generator=gen)
    start, end, net = state(make_net(1)), state(make_net(2)), make_net(3)  # the net holds neither
    return LossSet(net, [(x[:10], y[:10]), (x[10:], y[10:])], nn.functional.cross_entropy), start, end


def loss_and_accuracy(weights: dict, ls: LossSet) -> tuple[float, float]:
    net = make_net(0)
    net.load_state_dict(weights)
    x, y = torch.cat([b[0] for b in ls.batches]), torch.cat([b[1] for b in ls.batches])
    with torch.no_grad():
        out = net(x)
    return nn.functional.cross_entropy(out, y).item(), (out.argmax(1) == y).double().mean().item()


def test_interpolation_ends_at_the_start_and_end_losses(setup):
    ls, start, end = setup
    before = state(ls.net)
    line = interpolation(ls, start, end, points=5)
    assert line["a"] == [0.0, 0.25, 0.5, 0.75, 1.0] and len(line["loss"]) == len(line["accuracy"]) == 5
    for at, weights in ((0, start), (-1, end)):
        loss, accuracy = loss_and_accuracy(weights, ls)
        assert line["loss"][at] == pytest.approx(loss, abs=1e-12)
        assert line["accuracy"][at] == pytest.approx(accuracy, abs=1e-12)
    assert line["loss"][0] != line["loss"][2]
    assert same_state(state(ls.net), before)


def test_interpolation_past_the_ends(setup):
    ls, start, end = setup
    line = interpolation(ls, start, end, points=7, span=(-0.25, 1.25))
    np.testing.assert_allclose(line["a"], [-0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25])
    assert line["loss"][1] == pytest.approx(loss_and_accuracy(start, ls)[0], abs=1e-12)
    assert line["loss"][5] == pytest.approx(loss_and_accuracy(end, ls)[0], abs=1e-12)


def test_interpolation_to_the_nets_own_live_state_dict(setup):
    ls, start, _ = setup
    trained = ls.loss()
    line = interpolation(ls, start, ls.net.state_dict(), points=3)  # aliases the tensors it loads into
    assert line["loss"][-1] == pytest.approx(trained, abs=1e-12)
    assert line["loss"][0] == pytest.approx(loss_and_accuracy(start, ls)[0], abs=1e-12)
    assert ls.loss() == trained


def test_interpolation_restores_the_weights_on_an_error(setup):
    ls, start, end = setup
    before, calls = state(ls.net), []

    def failing(out, y):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return nn.functional.cross_entropy(out, y)

    with pytest.raises(RuntimeError, match="boom"):
        interpolation(LossSet(ls.net, ls.batches, failing), start, end)
    assert same_state(state(ls.net), before)


def test_interpolation_of_a_regression_has_no_accuracy(setup):
    ls, start, end = setup
    targets = [(x, torch.zeros(len(x), 3, dtype=torch.float64)) for x, _ in ls.batches]
    line = interpolation(LossSet(ls.net, targets, nn.functional.mse_loss), start, end, points=3)
    assert line["accuracy"] is None and len(line["loss"]) == 3


def test_interpolation_rejects_weights_of_another_network(setup):
    ls, start, end = setup
    other = {k: v for k, v in start.items() if k != "2.bias"}
    with pytest.raises(UsageError, match="start lacks '2.bias'"):
        interpolation(ls, other, end)


def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 3)).double().eval()


def test_filter_normalized_direction_matches_each_filters_norm():
    net = conv_net()
    direction = filter_normalized_direction(net, torch.Generator().manual_seed(0))
    assert list(direction) == [n for n, _ in net.named_parameters()]  # buffers are left out
    for name, p in net.named_parameters():
        d = direction[name]
        assert d.shape == p.shape and d.dtype == p.dtype
        if p.ndim <= 1:
            assert torch.count_nonzero(d) == 0, name
        else:
            dims = tuple(range(1, p.ndim))
            norm = lambda t: torch.linalg.vector_norm(t, dim=dims)  # noqa: E731
            torch.testing.assert_close(norm(d), norm(p.detach()), rtol=1e-12, atol=0)
            assert not torch.allclose(d, p)


def test_filter_normalized_direction_is_seeded():
    net = conv_net()
    one = filter_normalized_direction(net, torch.Generator().manual_seed(5))
    again = filter_normalized_direction(net, torch.Generator().manual_seed(5))
    other = filter_normalized_direction(net, torch.Generator().manual_seed(6))
    assert same_state(one, again) and not torch.equal(one["0.weight"], other["0.weight"])


def test_slice_2d_is_centred_on_the_trained_weights(setup):
    ls = setup[0]
    before, trained = state(ls.net), ls.loss()
    grid = slice_2d(ls, grid=5, span=0.5, seed=0)
    assert grid["alpha"] == grid["beta"] == [-0.5, -0.25, 0.0, 0.25, 0.5]
    loss = np.array(grid["loss"])
    assert loss.shape == (5, 5) and np.all(np.isfinite(loss))
    assert grid["center_loss"] == pytest.approx(trained, abs=1e-12)
    assert loss[2, 2] == pytest.approx(trained, abs=1e-12)
    assert loss.std() > 0
    assert same_state(state(ls.net), before)
    assert slice_2d(ls, grid=5, span=0.5, seed=0)["loss"] == grid["loss"]
    assert slice_2d(ls, grid=5, span=0.5, seed=1)["loss"] != grid["loss"]


def test_slice_2d_with_batchnorm_leaves_the_running_stats(setup):
    gen = torch.Generator().manual_seed(0)
    net = conv_net()
    net[1].running_mean.fill_(0.3)
    before = state(net)
    x, y = torch.randn(6, 1, 6, 6, generator=gen, dtype=torch.float64), torch.randint(0, 3, (6,), generator=gen)
    grid = slice_2d(LossSet(net, [(x, y)], nn.functional.cross_entropy), grid=3)
    assert np.array(grid["loss"]).shape == (3, 3)
    assert same_state(state(net), before)


def test_slice_2d_needs_three_points(setup):
    with pytest.raises(UsageError, match=r"^--grid must be at least 3 \(got 2\)$"):
        slice_2d(setup[0], grid=2)


def test_draw_landscape_writes_the_png_npz_and_csv(setup, tmp_path):
    ls, start, end = setup
    line, grid = interpolation(ls, start, end, points=6), slice_2d(ls, grid=3)
    paths = draw_landscape(line, grid, tmp_path)
    assert [p.name for p in paths] == ["landscape.png", "landscape.npz", "landscape.csv"]
    assert (tmp_path / "landscape.png").read_bytes()[:8] == PNG_MAGIC
    with np.load(tmp_path / "landscape.npz") as saved:
        np.testing.assert_array_equal(saved["loss"], grid["loss"])
        np.testing.assert_array_equal(saved["alpha"], grid["alpha"])
        np.testing.assert_array_equal(saved["interpolation_loss"], line["loss"])
    with open(tmp_path / "landscape.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["a", "loss", "accuracy"] and len(rows) == 1 + 6
    assert float(rows[-1][1]) == line["loss"][-1]
    npz = (tmp_path / "landscape.npz").read_bytes()
    draw_landscape(copy.deepcopy(line), grid, tmp_path)
    assert (tmp_path / "landscape.npz").read_bytes() == npz  # no timestamps: same numbers, same bytes
    import matplotlib.pyplot as plt
    assert plt.get_fignums() == []


def test_draw_landscape_without_a_slice(setup, tmp_path):
    ls, start, end = setup
    line = interpolation(ls, start, end, points=4)
    line["accuracy"] = None
    draw_landscape(line, None, tmp_path)
    with open(tmp_path / "landscape.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["a", "loss"] and len(rows) == 5
    with np.load(tmp_path / "landscape.npz") as saved:
        assert set(saved.files) == {"a", "interpolation_loss"}
