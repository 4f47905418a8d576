"""Loss landscapes (Li, Xu, Taylor, Studer & Goldstein 2018): the loss along the straight line
from the initial to the final weights, and on a 2-D slice through the trained weights spanned
by two random filter-normalised directions.

Every function here moves the network's weights and puts them back when it returns, also on an
error, so the caller's network leaves exactly as it came.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

import numpy as np
import torch

from dlcli.analysis.spectrum import LossSet
from dlcli.errors import UsageError


def _snapshot(state: dict) -> dict:
    """Detached copies: a live net.state_dict() aliases the very tensors loading a mix overwrites."""
    return {k: v.detach().clone() for k, v in state.items()}


@contextlib.contextmanager
def _restored(net: Any) -> Iterator[None]:
    """The net's state (parameters and buffers) as on entry, whatever happens inside."""
    saved = _snapshot(net.state_dict())
    try:
        yield
    finally:
        net.load_state_dict(saved)


def _is_classification(out: torch.Tensor, y: torch.Tensor) -> bool:
    """Class ids against (N, C) scores: the only case where an accuracy means something."""
    return (out.ndim == 2 and y.ndim == 1 and len(y) == len(out)
            and not torch.is_floating_point(y) and not torch.is_complex(y))


def _measure(ls: LossSet) -> tuple[float, float | None]:
    """(total loss, accuracy or None) at the net's current weights, sample-weighted over the batches."""
    loss, correct, classified = 0.0, 0, True
    with torch.no_grad():
        for (x, y), w in zip(ls.batches, ls.weights()):
            out = ls.net(x)
            loss += w * float(ls.loss_fn(out, y))
            classified = classified and _is_classification(out, y)
            if classified:
                correct += int((out.argmax(dim=1) == y).sum())
    return loss, (correct / ls.samples if classified else None)


def _same_keys(start: dict, end: dict) -> None:
    missing = ([f"start lacks {k!r}" for k in end if k not in start]
               + [f"end lacks {k!r}" for k in start if k not in end])
    if missing:
        raise UsageError(f"the start and end weights are not of the same network: {missing[0]}"
                         + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))


def _mix(start: dict, end: dict, a: float) -> dict:
    """(1 - a) start + a end for every floating entry (lerp is exact at a = 0 and a = 1); the
    rest (step counters) from end."""
    return {k: torch.lerp(start[k].to(v), v, a) if torch.is_floating_point(v) else v for k, v in end.items()}


def interpolation(ls: LossSet, start: dict, end: dict, points: int = 21,
                  span: tuple[float, float] = (0.0, 1.0)) -> dict:
    """The loss (and the accuracy, for class ids against (N, C) scores) at
    theta(a) = (1 - a) start + a end for `points` values of a evenly over `span`; start and end
    are state_dicts of the net (say the initial and the final weights). Buffers are interpolated
    with the parameters. {"a", "loss", "accuracy" (None if not a classifier), "seconds"}."""
    if points < 2:
        raise UsageError(f"--points must be at least 2 (got {points})")
    _same_keys(start, end)
    start, end = _snapshot(start), _snapshot(end)
    started, losses, accuracies = time.perf_counter(), [], []
    alphas = np.linspace(span[0], span[1], points).tolist()
    with _restored(ls.net):
        for a in alphas:
            ls.net.load_state_dict(_mix(start, end, a))
            loss, accuracy = _measure(ls)
            losses.append(loss)
            accuracies.append(accuracy)
    return {"a": alphas, "loss": losses, "accuracy": None if None in accuracies else accuracies,
            "seconds": time.perf_counter() - started}


def filter_normalized_direction(net: Any, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Parameter name -> a Gaussian direction (drawn on the CPU from `gen`, so the same seed gives
    the same direction on any device) with each filter, a slice along dim 0 of a weight with
    ndim >= 2, rescaled to the norm of the same filter of the weight. Parameters with ndim <= 1
    (biases, norm scales and shifts) get zeros, and buffers are left out, as in the paper."""
    directions = {}
    for name, p in net.named_parameters():
        if p.ndim <= 1:
            directions[name] = torch.zeros_like(p)
            continue
        d = torch.randn(p.shape, generator=gen, dtype=torch.float64)
        weight = p.detach().double().cpu()
        dims = tuple(range(1, p.ndim))
        norm = lambda t: torch.linalg.vector_norm(t, dim=dims, keepdim=True)  # noqa: E731
        d *= norm(weight) / norm(d).clamp_min(1e-30)
        directions[name] = d.to(device=p.device, dtype=p.dtype)
    return directions


def _grid_losses(ls: LossSet, alphas: list, betas: list, d1: dict, d2: dict) -> list[list[float]]:
    """Loss at centre + a d1 + b d2: one row per beta, one column per alpha."""
    params = dict(ls.net.named_parameters())
    centre = {n: p.detach().clone() for n, p in params.items()}
    rows = []
    with torch.no_grad():
        for b in betas:
            row = []
            for a in alphas:
                for n, p in params.items():
                    p.copy_(centre[n] + a * d1[n] + b * d2[n])
                row.append(_measure(ls)[0])
            rows.append(row)
    return rows


def slice_2d(ls: LossSet, grid: int = 21, span: float = 1.0, seed: int = 0) -> dict:
    """The loss on a grid x grid lattice of theta + alpha d1 + beta d2 with alpha, beta evenly in
    [-span, span] and d1, d2 two filter-normalised directions from torch.Generator(seed):
    {"alpha", "beta", "loss" (beta rows, alpha columns), "center_loss" (at the trained weights,
    the lattice's centre for an odd grid), "seconds"}."""
    if grid < 3:
        raise UsageError(f"--grid must be at least 3 (got {grid})")
    if not span > 0:
        raise UsageError(f"--span must be positive (got {span})")
    started = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    d1, d2 = filter_normalized_direction(ls.net, gen), filter_normalized_direction(ls.net, gen)
    axis = np.linspace(-span, span, grid).tolist()
    center = _measure(ls)[0]
    with _restored(ls.net):
        losses = _grid_losses(ls, axis, axis, d1, d2)
    return {"alpha": axis, "beta": list(axis), "loss": losses, "center_loss": center,
            "seconds": time.perf_counter() - started}
