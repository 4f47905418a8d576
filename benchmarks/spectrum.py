"""Hessian spectra without the Hessian: Lanczos on Hessian-vector products against building the
full Hessian and diagonalising it.

Data: scikit-learn's digits (8x8, every pixel standardised over the data set), --samples (512)
drawn by a seeded permutation; each net is built by dlcli from a layer list and trained for
--epochs (5) of Adam (lr 3e-3, batch 64) on those samples, then studied on them in eval mode.

1. The digits CNN (conv 16, maxpool, conv 32, linear 64, linear 10: 38,282 parameters, float32)
   gets `lanczos(hvp, k=--top)` timed, and the whole `spectrum(...)` (trace, SLQ density,
   empirical Fisher) once. Its full Hessian would be 38,282^2 float64 = 11.7 GB, so no baseline.
2. The baseline runs where both fit: an MLP (flatten, linear --hidden (32), relu, linear 10:
   2,410 parameters, float64): torch.autograd.functional.hessian (vectorize=True, the fastest
   way torch offers to build it) + np.linalg.eigvalsh against lanczos(k=--top) with its default
   steps and with 4k steps, best of --repeats (3) each, with the largest relative difference
   over the top --top eigenvalues and how many of them agree to 1e-6.

    .venv/bin/python benchmarks/spectrum.py [--samples 512] [--epochs 5] [--top 20] [--hidden 32]
        [--repeats 3] [--threads 0] [--device auto|cpu|cuda] [--write]

--threads sets torch's intra-op threads (0: torch's default). On a shared machine whose cores
are already busy, one thread is the steadier clock: two threads contending with other
processes made one Hessian-vector product of the CNN vary from 9 ms to 1.3 s here.

--write appends the table and the machine to benchmarks/RESULTS.md.
"""
from __future__ import annotations

from _machine import publish  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from _training import machine  # noqa: E402
import argparse
import time
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from dlcli.analysis.spectrum import LossSet, hvp, lanczos, spectrum
from dlcli.nn.model import build_model, plan_model

HEADING = "## Hessian spectra (issue 13: benchmarks/spectrum.py)"
SEED, BATCH, LR = 0, 64, 3e-3
CNN = [{"conv2d": {"out": 16, "padding": 1}}, "relu", {"maxpool": 2}, {"conv2d": {"out": 32, "padding": 1}}, "relu",
       "flatten", {"linear": 64}, "relu", {"linear": "auto"}]


def mlp(hidden: int) -> list:
    return ["flatten", {"linear": hidden}, "relu", {"linear": "auto"}]


def digits(samples: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (N, 1, 8, 8) float32 standardised per pixel, y class ids) for a seeded subset."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = data.data.astype(np.float32)
    x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)  # constant border pixels stay 0
    pick = np.random.default_rng(SEED).permutation(len(x))[:samples]
    return (torch.from_numpy(x[pick]).reshape(-1, 1, 8, 8).to(device),
            torch.from_numpy(data.target[pick]).long().to(device))


def build(layers: list, device: torch.device) -> nn.Module:
    plan = plan_model(layers, (1, 8, 8), 10)
    assert not plan.ctx.problems, plan.ctx.problems
    torch.manual_seed(SEED)
    return build_model(plan).to(device)


def train(net: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int) -> nn.Module:
    """A few epochs of Adam: a trained point, not a converged one. Returns the net in eval mode."""
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(BATCH):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    return net.eval()


def best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """(fastest wall seconds, the last result) over `repeats` calls."""
    times, out = [], None
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        started = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return min(times), out


def full_hessian_eigenvalues(ls: LossSet) -> np.ndarray:
    """Every eigenvalue, descending: the Hessian built over the flat parameters, then eigvalsh."""
    from torch.func import functional_call

    names, shapes = zip(*[(n, p.shape) for n, p in ls.net.named_parameters()])
    flat = torch.cat([p.detach().reshape(-1) for p in ls.net.parameters()])

    def loss(theta: torch.Tensor) -> torch.Tensor:
        params, at = {}, 0
        for name, shape in zip(names, shapes):
            params[name], at = theta[at:at + shape.numel()].reshape(shape), at + shape.numel()
        return sum(w * ls.loss_fn(functional_call(ls.net, params, (x,)), y)
                   for (x, y), w in zip(ls.batches, ls.weights()))

    h = torch.autograd.functional.hessian(loss, flat, vectorize=True)
    return np.linalg.eigvalsh(h.double().cpu().numpy())[::-1]


def cnn_rows(args: argparse.Namespace, device: torch.device) -> list[str]:
    x, y = digits(args.samples, device)
    ls = LossSet(train(build(CNN, device), x, y, args.epochs), [(x, y)], nn.functional.cross_entropy)
    seconds, top = best(lambda: lanczos(hvp(ls), ls.dim(), k=args.top), args.repeats)
    result = spectrum(ls, top=args.top)
    return [f"| digits CNN, float32 | {ls.dim():,} | {ls.loss():.4f} | lanczos k={args.top}, "
            f"{max(2 * args.top + 10, 40)} steps: {seconds:.2f} | "
            f"full Hessian: {ls.dim() ** 2 * 8 / 1e9:.1f} GB, not built | {top[0]:.4g} | - | "
            f"{result['decades']:.2f} | {result['trace']:.4g} ± {result['trace_stderr']:.2g} | "
            f"{result['fisher_top'][0]:.4g} ({result['fisher_decades']:.2f}) | {result['negative_eigenvalues']:.1%} | "
            f"{result['seconds']:.1f} |"]


def agreement(top: np.ndarray, exact: np.ndarray) -> str:
    """The largest relative difference over the top eigenvalues, and how many agree to 1e-6."""
    rel = np.abs(top - exact[:len(top)]) / np.abs(exact[:len(top)])
    return f"{rel.max():.1e} ({int((rel < 1e-6).sum())}/{len(top)} within 1e-6)"


def baseline_rows(args: argparse.Namespace, device: torch.device) -> list[str]:
    x, y = digits(args.samples, device)
    net = train(build(mlp(args.hidden), device), x, y, args.epochs).double()
    ls = LossSet(net, [(x.double(), y)], nn.functional.cross_entropy)
    full_s, exact = best(lambda: full_hessian_eigenvalues(ls), args.repeats)
    rows = []
    for steps in (None, 4 * args.top):  # lanczos' default (2k + 10, at least 40), then twice the Krylov space
        seconds, top = best(lambda: lanczos(hvp(ls), ls.dim(), k=args.top, steps=steps), args.repeats)
        used = min(ls.dim(), steps or max(2 * args.top + 10, 40))
        rows.append(f"| digits MLP, float64 | {ls.dim():,} | {ls.loss():.4f} | lanczos k={args.top}, {used} steps: "
                    f"{seconds:.3f} | full Hessian + eigvalsh: {full_s:.3f} ({full_s / seconds:.0f}x) | "
                    f"{top[0]:.6g} vs {exact[0]:.6g} | {agreement(top, exact)} | - | - | - | - | - |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    rows = baseline_rows(args, device) + cnn_rows(args, device)
    publish([HEADING, "", f"Machine: {machine(device.type)}. {args.samples} digits samples, {args.epochs} Adam epochs, "
             f"best of {args.repeats}.", "",
             "| net | parameters | loss | matrix-free (s) | baseline (s) | top eigenvalue | max rel. diff top "
             f"{args.top} | decades | trace (Hutchinson) | top Fisher (decades) | negative mass | spectrum() s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|", *rows], args.write)


if __name__ == "__main__":
    main()
