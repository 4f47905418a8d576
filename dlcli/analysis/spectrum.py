"""The curvature of a trained network's loss: the top Hessian eigenvalues (Lanczos), the trace
(Hutchinson), the eigenvalue density (stochastic Lanczos quadrature: Ubaru, Chen & Saad 2017;
Ghorbani, Krishnan & Xiao 2019) and the empirical Fisher's eigenvalues, all matrix-free.

The Hessian is only ever applied to a vector (a double backward pass), so a network of any size
fits; the linear algebra on the Krylov basis runs in float64 numpy, seeded, so the same inputs
give the same numbers.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

Matvec = Callable[[torch.Tensor], Any]  # float64 (dim,) tensor -> (dim,) tensor or array
BREAKDOWN = 1e-10  # a Lanczos residual this small next to the largest entry of T: the Krylov space is invariant


@dataclass
class LossSet:
    """The loss an analysis studies: `net` (the caller puts it in eval mode), fixed batches
    [(x, y), ...] already on the net's device, and `loss_fn(out, y) -> scalar mean loss`. The
    total is the sample-weighted mean over the batches, so chunking the samples differently
    gives the same loss."""

    net: Any
    batches: list
    loss_fn: Callable

    def __post_init__(self) -> None:
        if not self.batches or self.samples == 0:
            raise ValueError("a LossSet needs at least one non-empty batch of (x, y)")

    @property
    def samples(self) -> int:
        return sum(len(y) for _, y in self.batches)

    def weights(self) -> list[float]:
        """Each batch's share of the samples: the weight of its mean loss in the total."""
        return [len(y) / self.samples for _, y in self.batches]

    def params(self) -> list:
        """The parameters the analyses differentiate: those with requires_grad, in named_parameters order."""
        return [p for _, p in self.net.named_parameters() if p.requires_grad]

    def dim(self) -> int:
        return sum(p.numel() for p in self.params())

    def loss(self) -> float:
        with torch.no_grad():
            return sum(w * float(self.loss_fn(self.net(x), y)) for (x, y), w in zip(self.batches, self.weights()))


# ---- Hessian-vector products -------------------------------------------------------------------

def _flat(tensors: list) -> torch.Tensor:
    return torch.cat([t.reshape(-1).double() for t in tensors])


def _pieces(vector: torch.Tensor, params: list) -> list:
    """A flat vector cut into tensors shaped, typed and placed like the parameters."""
    out, at = [], 0
    for p in params:
        out.append(vector[at:at + p.numel()].reshape(p.shape).to(device=p.device, dtype=p.dtype))
        at += p.numel()
    return out


def _grads(output: torch.Tensor, params: list, **options: Any) -> list:
    """d output / d params, zeros for a parameter the output does not depend on."""
    grads = torch.autograd.grad(output, params, allow_unused=True, **options)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]


def hvp(ls: LossSet) -> Callable[[torch.Tensor], torch.Tensor]:
    """v -> H v for the Hessian H of the total loss over the trainable parameters: a flat float64
    vector in (cast to the parameters' dtype inside), a flat float64 CPU tensor out, the batches'
    double-backward products summed with their sample weights."""
    params, weights = ls.params(), ls.weights()
    if not params:
        raise ValueError("the network has no parameter with requires_grad: there is no Hessian to take")
    dim = sum(p.numel() for p in params)

    def matvec(v: torch.Tensor) -> torch.Tensor:
        pieces = _pieces(torch.as_tensor(v, dtype=torch.float64).reshape(-1), params)
        total = torch.zeros(dim, dtype=torch.float64, device=params[0].device)
        for (x, y), w in zip(ls.batches, weights):
            grads = _grads(ls.loss_fn(ls.net(x), y), params, create_graph=True)
            dot = sum((g * u).sum() for g, u in zip(grads, pieces))
            if dot.requires_grad:  # a loss linear in every parameter has no curvature to add
                total += w * _flat(_grads(dot, params))
        return total.cpu()

    return matvec


# ---- Lanczos -------------------------------------------------------------------------------------

def _apply(matvec: Matvec, q: np.ndarray) -> np.ndarray:
    out = matvec(torch.from_numpy(q))
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().double().numpy()
    return np.asarray(out, dtype=np.float64).reshape(-1)


def _orthogonal(w: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """w with its components along the basis rows removed; twice, as one pass leaves rounding behind."""
    for _ in range(2):
        w = w - basis.T @ (basis @ w)
    return w


def _tridiagonal(matvec: Matvec, start: np.ndarray, steps: int,
                 rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The diagonal and off-diagonal of Lanczos' T after `steps` steps from `start`, with full
    re-orthogonalisation. On breakdown (an invariant subspace) it stops, or, given rng, goes on
    from a fresh random vector orthogonal to the basis (a 0 off-diagonal: T stays exact)."""
    basis = np.zeros((steps, start.size))
    q, alphas, betas = start / np.linalg.norm(start), [], []
    for j in range(steps):
        basis[j] = q
        w = _apply(matvec, q)
        alphas.append(float(q @ w))
        if j == steps - 1:
            break
        w = _orthogonal(w, basis[:j + 1])
        beta = float(np.linalg.norm(w))
        if beta <= BREAKDOWN * max(max(map(abs, alphas)), max(betas, default=0.0)):
            if rng is None:
                break
            w, beta = _orthogonal(rng.standard_normal(start.size), basis[:j + 1]), 0.0
        q = w / (beta or np.linalg.norm(w))
        betas.append(beta)
    return np.array(alphas), np.array(betas)


def _matrix(alphas: np.ndarray, betas: np.ndarray) -> np.ndarray:
    return np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)


def lanczos(matvec: Matvec, dim: int, k: int = 20, steps: int | None = None, seed: int = 0) -> np.ndarray:
    """The k largest (algebraic) eigenvalues of the symmetric operator `matvec`, descending: the
    Ritz values of `steps` Lanczos steps from a seeded Gaussian start; the default,
    min(dim, max(4k, 40)), converges all of k=20 on a digits MLP to 1e-13 (2k + 10 steps, half). Fewer than k come back only when dim < k."""
    if k < 1 or dim < 1:
        raise ValueError(f"lanczos needs k >= 1 and dim >= 1, got k={k}, dim={dim}")
    steps = min(dim, steps or max(4 * k, 40))
    rng = np.random.default_rng(seed)
    alphas, betas = _tridiagonal(matvec, rng.standard_normal(dim), steps, rng)
    return np.linalg.eigvalsh(_matrix(alphas, betas))[::-1][:k].copy()


# ---- trace and density ---------------------------------------------------------------------------

def _rademacher(rng: np.random.Generator, dim: int) -> np.ndarray:
    return rng.integers(0, 2, size=dim).astype(np.float64) * 2.0 - 1.0


def hutchinson_trace(matvec: Matvec, dim: int, probes: int = 100, seed: int = 0) -> tuple[float, float]:
    """(estimate, standard error) of the trace: the mean of z^T A z over seeded Rademacher probes z."""
    if probes < 2:
        raise ValueError(f"a trace with a standard error needs at least 2 probes, got {probes}")
    rng = np.random.default_rng(seed)
    samples = np.array([z @ _apply(matvec, z) for z in (_rademacher(rng, dim) for _ in range(probes))])
    return float(samples.mean()), float(samples.std(ddof=1) / math.sqrt(probes))


def _smoothed(nodes: np.ndarray, weights: np.ndarray, points: int,
              sigma: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The mixture of Gaussians (width sigma) at the nodes on a grid 5 sigma past the extreme
    nodes; the default sigma spans 2.5 grid steps, so the trapezoid rule integrates it to ~1."""
    lo, hi = float(nodes.min()), float(nodes.max())
    width = (hi - lo) or max(abs(hi), 1.0)  # one distinct node: still a width to draw it on
    sigma = sigma or 2.5 * width / points
    grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, points)
    bumps = np.exp(-0.5 * ((grid[:, None] - nodes[None, :]) / sigma) ** 2)
    return grid, (bumps * weights[None, :]).sum(axis=1) / (sigma * math.sqrt(2 * math.pi))


def slq_density(matvec: Matvec, dim: int, steps: int = 60, probes: int = 8, seed: int = 0, points: int = 400,
                sigma: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(grid, density, nodes, weights) by stochastic Lanczos quadrature: per seeded Rademacher
    probe, T's eigenvalues (nodes) and squared first eigenvector components (weights, divided by
    the probe count so all of them sum to 1); the density is their Gaussian-smoothed mixture,
    which integrates to ~1. sum(weights * nodes) is the Hutchinson estimate of trace / dim."""
    rng = np.random.default_rng(seed)
    nodes, weights = [], []
    for _ in range(probes):
        alphas, betas = _tridiagonal(matvec, _rademacher(rng, dim), min(steps, dim))
        theta, vectors = np.linalg.eigh(_matrix(alphas, betas))
        nodes.append(theta)
        weights.append(vectors[0] ** 2 / probes)
    nodes, weights = np.concatenate(nodes), np.concatenate(weights)
    return (*_smoothed(nodes, weights, points, sigma), nodes, weights)


# ---- the empirical Fisher ----------------------------------------------------------------------

def _vmap_grads(ls: LossSet, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    from torch.func import functional_call, grad, vmap

    named = dict(ls.net.named_parameters())
    trainable = {n: p.detach() for n, p in named.items() if p.requires_grad}
    fixed = {**{n: p.detach() for n, p in named.items() if not p.requires_grad}, **dict(ls.net.named_buffers())}

    def one(params: dict, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        return ls.loss_fn(functional_call(ls.net, {**params, **fixed}, (xi.unsqueeze(0),)), yi.unsqueeze(0))

    grads = vmap(grad(one), in_dims=(None, 0, 0))(trainable, x, y)
    return torch.cat([grads[n].reshape(len(y), -1).double() for n in trainable], dim=1)


def _loop_grads(ls: LossSet, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    params = ls.params()
    return torch.stack([_flat(_grads(ls.loss_fn(ls.net(xi[None]), yi[None]), params)) for xi, yi in zip(x, y)])


def per_sample_grads(ls: LossSet) -> torch.Tensor:
    """(N, P) float64: each sample's loss gradient, by torch.func (vmap over grad), or one sample
    at a time for a module vmap cannot trace (one that calls .item(), say)."""
    rows = []
    for x, y in ls.batches:
        try:
            rows.append(_vmap_grads(ls, x, y))
        except (RuntimeError, NotImplementedError):
            rows.append(_loop_grads(ls, x, y))
    return torch.cat(rows)


def fisher_eigenvalues(ls: LossSet, top: int = 20) -> np.ndarray:
    """The `top` largest eigenvalues of the empirical Fisher F = (1/N) sum_n g_n g_n^T, descending,
    exactly: from the N x N Gram matrix G G^T / N, which has the same non-zero eigenvalues (so
    keep N to a few hundred)."""
    g = per_sample_grads(ls)
    gram = g @ g.T / len(g)
    return torch.linalg.eigvalsh(gram).cpu().numpy()[::-1][:top].copy()


# ---- everything at once ----------------------------------------------------------------------

def decades(values: Any) -> float:
    """log10(max / min) over the positive values: how many orders of magnitude they span (0 for fewer than 2)."""
    positive = np.asarray(values, dtype=np.float64)
    positive = positive[positive > 0]
    return float(np.log10(positive.max() / positive.min())) if positive.size >= 2 else 0.0


def _negative_mass(nodes: np.ndarray, weights: np.ndarray, dtype: torch.dtype) -> float:
    """The quadrature mass on negative nodes; a node within 10 machine epsilons (of the
    parameters' dtype) of zero, relative to the largest |node|, is rounding noise, not curvature."""
    tol = 10 * torch.finfo(dtype).eps * float(np.abs(nodes).max())
    return float(weights[nodes < -tol].sum())


def spectrum(ls: LossSet, top: int = 20, seed: int = 0, probes: int = 8, steps: int = 60,
             trace_probes: int = 50) -> dict:
    """Every curvature summary in one JSON-able dict: the `top` Hessian eigenvalues (Lanczos), the
    trace (Hutchinson, `trace_probes` probes), the SLQ density (`probes` probes of `steps` steps),
    the top empirical-Fisher eigenvalues, how many decades each top list spans and the fraction
    of the density on negative eigenvalues. Seeded: the same inputs give the same numbers."""
    started = time.perf_counter()
    matvec, dim = hvp(ls), ls.dim()
    top_eigenvalues = lanczos(matvec, dim, k=top, seed=seed)
    trace, stderr = hutchinson_trace(matvec, dim, probes=trace_probes, seed=seed + 1)
    grid, density, nodes, weights = slq_density(matvec, dim, steps=steps, probes=probes, seed=seed + 2)
    fisher = fisher_eigenvalues(ls, top)
    return {"samples": ls.samples, "parameters": dim, "top_eigenvalues": top_eigenvalues.tolist(),
            "trace": trace, "trace_stderr": stderr,
            "density": {"grid": grid.tolist(), "density": density.tolist()},
            "fisher_top": fisher.tolist(), "decades": decades(top_eigenvalues),
            "fisher_decades": decades(fisher),
            "negative_eigenvalues": _negative_mass(nodes, weights, ls.params()[0].dtype),
            "seconds": time.perf_counter() - started}
