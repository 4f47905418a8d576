"""Hessian spectra: every matrix-free estimate checked against the explicitly built matrix of a
network small enough to build it (31 parameters, float64)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from dlcli.analysis import spectrum as S
from dlcli.analysis.spectrum import (LossSet, decades, fisher_eigenvalues, hutchinson_trace, hvp, lanczos,
                                     slq_density, spectrum)
from dlcli.analysis.spectrum_plot import draw_spectrum, spectrum_caption

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DIM = 31  # Linear(3, 4): 16, Linear(4, 3): 15


@pytest.fixture(autouse=True)
def one_thread():
    """Products of 31-vectors: extra threads only contend (conftest puts the count back)."""
    torch.set_num_threads(1)


def tiny(seed: int = 0, n: int = 16) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).double().eval()
    gen = torch.Generator().manual_seed(seed)
    return net, torch.randn(n, 3, generator=gen, dtype=torch.float64), torch.randint(0, 3, (n,), generator=gen)


def exact_hessian(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    names, shapes = zip(*[(n, p.shape) for n, p in net.named_parameters()])
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def loss(theta: torch.Tensor) -> torch.Tensor:
        params, at = {}, 0
        for name, shape in zip(names, shapes):
            params[name] = theta[at:at + shape.numel()].reshape(shape)
            at += shape.numel()
        return nn.functional.cross_entropy(functional_call(net, params, (x,)), y)

    return torch.autograd.functional.hessian(loss, flat)


@pytest.fixture(scope="module")
def problem():
    net, x, y = tiny()
    ls = LossSet(net, [(x[:10], y[:10]), (x[10:], y[10:])], nn.functional.cross_entropy)
    return ls, exact_hessian(net, x, y)


def test_hvp_matches_the_exact_hessian(problem):
    ls, h = problem
    matvec = hvp(ls)
    for seed in range(3):
        v = torch.randn(DIM, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        out = matvec(v)
        assert out.dtype == torch.float64 and out.shape == (DIM,)
        assert torch.allclose(out, h @ v, atol=1e-8, rtol=0)


def test_hvp_and_loss_do_not_depend_on_chunking(problem):
    ls, _ = problem
    (x1, y1), (x2, y2) = ls.batches
    x, y = torch.cat([x1, x2]), torch.cat([y1, y2])
    whole = LossSet(ls.net, [(x, y)], ls.loss_fn)
    thirds = LossSet(ls.net, [(x[:3], y[:3]), (x[3:11], y[3:11]), (x[11:], y[11:])], ls.loss_fn)
    v = torch.linspace(-1, 1, DIM, dtype=torch.float64)
    assert whole.samples == thirds.samples == ls.samples == 16
    assert torch.allclose(hvp(whole)(v), hvp(thirds)(v), atol=1e-12, rtol=0)
    assert thirds.loss() == pytest.approx(whole.loss(), abs=1e-12)
    assert whole.loss() == pytest.approx(nn.functional.cross_entropy(ls.net(x), y).item(), abs=1e-12)


def test_hvp_casts_to_a_float32_net(problem):
    ls, h = problem
    net32 = tiny()[0].float()
    ls32 = LossSet(net32, [(x.float(), y) for x, y in ls.batches], ls.loss_fn)
    v = torch.linspace(-1, 1, DIM, dtype=torch.float64)
    out = hvp(ls32)(v)
    assert out.dtype == torch.float64
    assert torch.allclose(out, h @ v, atol=1e-5, rtol=1e-4)


def test_lanczos_finds_the_top_eigenvalues(problem):
    ls, h = problem
    exact = np.linalg.eigvalsh(h.numpy())[::-1]
    top = lanczos(hvp(ls), DIM, k=5)
    assert top.shape == (5,) and np.all(np.diff(top) <= 0)
    assert top[0] == pytest.approx(exact[0], rel=1e-2)
    np.testing.assert_allclose(top, exact[:5], rtol=1e-6)
    short = lanczos(lambda v: h @ v, DIM, k=5, steps=20)  # a Krylov space smaller than the matrix
    np.testing.assert_allclose(short, exact[:5], rtol=1e-3)


def test_lanczos_converges_well_inside_a_large_operator():
    values = 10.0 ** np.linspace(-6, 3, 500)
    diagonal = torch.tensor(values)
    top = lanczos(lambda v: diagonal * v, 500, k=5)  # 50 steps on 500 dimensions
    np.testing.assert_allclose(top, values[::-1][:5], rtol=1e-8)


def test_lanczos_restarts_after_an_invariant_subspace():
    diagonal = torch.tensor([5.0, 3.0] + [0.0] * 8, dtype=torch.float64)
    top = lanczos(lambda v: diagonal * v, 10, k=4)  # the first Krylov space holds only 3 directions
    np.testing.assert_allclose(top, [5.0, 3.0, 0.0, 0.0], atol=1e-10)


def test_lanczos_is_seeded(problem):
    _, h = problem
    matvec = lambda v: h @ v  # noqa: E731
    assert np.array_equal(lanczos(matvec, DIM, k=3, steps=8, seed=4), lanczos(matvec, DIM, k=3, steps=8, seed=4))
    assert not np.array_equal(lanczos(matvec, DIM, k=3, steps=8, seed=4), lanczos(matvec, DIM, k=3, steps=8, seed=5))


def test_hutchinson_trace_is_close_to_the_exact_trace(problem):
    _, h = problem
    exact = float(torch.trace(h))
    estimate, stderr = hutchinson_trace(lambda v: h @ v, DIM, probes=4000, seed=0)
    assert estimate == pytest.approx(exact, rel=0.05)
    assert 0 < stderr < 0.02 * abs(exact)


def test_hutchinson_is_exact_on_a_diagonal():
    diagonal = torch.arange(1.0, 11.0, dtype=torch.float64)  # z_i^2 = 1: every probe gives the trace
    assert hutchinson_trace(lambda v: diagonal * v, 10, probes=3) == (55.0, 0.0)
    with pytest.raises(ValueError, match="at least 2 probes"):
        hutchinson_trace(lambda v: diagonal * v, 10, probes=1)


def test_slq_density_integrates_to_one_with_the_right_mean(problem):
    _, h = problem
    grid, density, nodes, weights = slq_density(lambda v: h @ v, DIM, steps=5, probes=2000, seed=0)
    assert grid.shape == density.shape == (400,) and np.all(density >= 0)
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-3)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert grid[0] < nodes.min() and grid[-1] > nodes.max()
    assert float((weights * nodes).sum()) == pytest.approx(float(torch.trace(h)) / DIM, rel=0.05)


def test_slq_nodes_are_the_eigenvalues_when_the_krylov_space_is_full():
    values = np.array([-2.0, 0.5, 1.0, 4.0])
    diagonal = torch.tensor(values)
    _, _, nodes, weights = slq_density(lambda v: diagonal * v, 4, steps=4, probes=1)
    np.testing.assert_allclose(np.sort(nodes), values, atol=1e-10)
    np.testing.assert_allclose(weights, 0.25, atol=1e-10)  # a Rademacher probe weighs each axis 1/4


def per_sample_gradients(ls: LossSet) -> np.ndarray:
    rows = []
    for x, y in ls.batches:
        for xi, yi in zip(x, y):
            loss = ls.loss_fn(ls.net(xi[None]), yi[None])
            rows.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, ls.params())]))
    return torch.stack(rows).numpy()


def test_fisher_eigenvalues_equal_those_of_the_explicit_fisher(problem):
    ls, _ = problem
    g = per_sample_gradients(ls)
    fisher = sum(np.outer(row, row) for row in g) / len(g)
    exact = np.linalg.eigvalsh(fisher)[::-1]
    np.testing.assert_allclose(fisher_eigenvalues(ls, top=10), exact[:10], atol=1e-12)
    everything = fisher_eigenvalues(ls, top=40)  # rank <= N = 16: only N come back
    assert everything.shape == (16,)
    np.testing.assert_allclose(everything, exact[:16], atol=1e-12)


class ItemNet(nn.Module):
    """.item() in forward: vmap cannot trace it, so per-sample gradients need the plain loop."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) * (1.0 if x.abs().max().item() >= 0 else 2.0)


def test_fisher_falls_back_to_a_loop_without_vmap(problem, monkeypatch):
    ls, _ = problem
    looped, original = [], S._loop_grads
    monkeypatch.setattr(S, "_loop_grads", lambda *a: looped.append(1) or original(*a))
    item = LossSet(ItemNet(ls.net), ls.batches, ls.loss_fn)
    np.testing.assert_allclose(fisher_eigenvalues(item, top=5), fisher_eigenvalues(ls, top=5), atol=1e-12)
    assert len(looped) == 2  # once per batch of the ItemNet, never for the plain one


def test_decades():
    assert decades([1, 10, 1000]) == pytest.approx(3.0)
    assert decades([-1.0, 0.1, 0.0, 10.0]) == pytest.approx(2.0)  # only the positive values count
    assert decades([5.0]) == 0.0 and decades([-3.0, 0.0]) == 0.0 and decades([]) == 0.0


def small_spectrum(ls: LossSet, seed: int) -> dict:
    return spectrum(ls, top=5, seed=seed, probes=2, steps=10, trace_probes=5)


def test_spectrum_is_seeded_and_json_able(problem):
    ls, h = problem
    first, again, other = small_spectrum(ls, 0), small_spectrum(ls, 0), small_spectrum(ls, 1)
    assert set(first) == {"samples", "parameters", "top_eigenvalues", "trace", "trace_stderr", "density",
                          "fisher_top", "decades", "fisher_decades", "negative_eigenvalues", "seconds"}
    json.dumps(first, allow_nan=False)
    assert (first["samples"], first["parameters"]) == (16, DIM)
    without = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    assert without(first) == without(again)
    assert first["trace"] != other["trace"] and first["density"] != other["density"]
    assert first["fisher_top"] == other["fisher_top"]  # exact, so no seed in it
    np.testing.assert_allclose(first["top_eigenvalues"], np.linalg.eigvalsh(h.numpy())[::-1][:5], rtol=1e-6)
    assert first["decades"] == pytest.approx(decades(first["top_eigenvalues"]))
    assert 0.0 <= first["negative_eigenvalues"] <= 1.0


def test_draw_spectrum_writes_the_png_and_its_numbers(problem, tmp_path):
    result = small_spectrum(problem[0], 0)
    paths = draw_spectrum(result, tmp_path)
    assert [p.name for p in paths] == ["spectrum.png", "spectrum.json"]
    assert (tmp_path / "spectrum.png").read_bytes()[:8] == PNG_MAGIC
    assert json.loads((tmp_path / "spectrum.json").read_text()) == result
    import matplotlib.pyplot as plt
    assert plt.get_fignums() == []


def test_spectrum_caption_names_the_decades():
    result = {"top_eigenvalues": [1.0] * 20, "decades": 3.4, "negative_eigenvalues": 0.12}
    assert spectrum_caption(result).startswith("top 20 Hessian eigenvalues span 3.4 decades: a sloppy spectrum")
    assert "12% of the density is on negative eigenvalues" in spectrum_caption(result)
    assert "sloppy" not in spectrum_caption({**result, "decades": 0.5})
