"""The exact linear regions of a piecewise-linear network on a 2-D plane of its input space.

On a plane x(u, v) = origin + u*d1 + v*d2, a network of affine layers (linear, conv, batchnorm in
eval, average pools, reshapes) and relu, leaky_relu, hardtanh and maxpool is piecewise affine in
(u, v). `exact_regions` keeps every piece as a convex polygon with the affine map (u, v) -> the
current activation on it, pushes the pieces through the layers in forward order and cuts them
where a unit's pre-activation crosses a breakpoint, so the final polygons are the activation
regions (Hanin & Rolnick 2019; Serra, Tjandraatmadja & Ramalingam 2018 bound their number).
`grid_regions` counts activation patterns on a grid for comparison.

Pieces are stored flat -- every vertex of every polygon in one (n, 2) float64 array, polygon
after polygon, counter-clockwise, with the index where each polygon starts -- so one numpy
expression treats all pieces at once and only the pieces a line cuts are rebuilt.
"""
from __future__ import annotations

import copy
import functools
import math
import time
from dataclasses import dataclass, replace
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import nn

from dlcli.errors import UsageError
from dlcli.nn._torch_modules import GlobalAvgPool, Parallel, Residual, Reshape

RELATIVE_TOL = 1e-10  # a vertex this close to a line (relative to the line's scale) lies on it
MIN_AREA = 1e-12  # pieces smaller than this share of the box are rounding slivers: dropped
CHUNK = 65536  # rows per forward call, so big batches of maps or grid points stay in memory
PIECEWISE = "relu, leaky_relu, hardtanh, maxpool, linear, conv, batchnorm in eval are"
AFFINE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
          nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
          nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
          Reshape, GlobalAvgPool)
THRESHOLDS = (nn.ReLU, nn.LeakyReLU, nn.Hardtanh)  # nn.ReLU6 is a Hardtanh(0, 6)
MAXPOOLS = (nn.MaxPool1d, nn.MaxPool2d)


# ---- the plane -----------------------------------------------------------------------------------

@dataclass
class Plane:
    """The plane x(u, v) = origin + u*d1 + v*d2 of a network's input space (origin, d1, d2 float64
    tensors of the input shape) and the box (u0, u1, v0, v1) on it; `axes` are the axis labels and
    `samples` the data indices (i, j, k) at (0, 0), (1, 0), (0, 1) of a three-sample plane."""

    origin: torch.Tensor
    d1: torch.Tensor
    d2: torch.Tensor
    box: tuple
    axes: tuple = ("u", "v")
    samples: Optional[tuple] = None

    @property
    def area(self) -> float:
        u0, u1, v0, v1 = self.box
        return (u1 - u0) * (v1 - v0)

    def at(self, uv: np.ndarray) -> torch.Tensor:
        """The inputs at plane coordinates uv (N, 2): (N, *input shape) float64."""
        uv = torch.as_tensor(np.asarray(uv, dtype=np.float64))
        shape = (-1,) + (1,) * self.origin.dim()
        return self.origin + uv[:, 0].reshape(shape) * self.d1 + uv[:, 1].reshape(shape) * self.d2

    def project(self, x: Any) -> np.ndarray:
        """(N, 2) plane coordinates of inputs x (N, *input shape): the least-squares (u, v)."""
        x = torch.as_tensor(x).detach().to("cpu", torch.float64)
        y = (x - self.origin.cpu()).flatten(1).numpy()
        basis = torch.stack([self.d1.flatten(), self.d2.flatten()]).cpu().numpy()  # (2, D)
        return np.linalg.solve(basis @ basis.T, basis @ y.T).T


def plane_for(x: Any, mode: str = "auto", labels: Any = None) -> Plane:
    """The plane of `--plane MODE` over data samples x (N, *input): "input" (2-D inputs: the input
    axes over the data's range plus 10%), "i,j,k" (through samples i, j, k at (0, 0), (1, 0), (0, 1),
    box [-0.25, 1.25]^2) or "auto" ("input" for 2-D inputs, else three samples: the first of
    distinct classes when labels are given)."""
    x = torch.as_tensor(x).detach().to("cpu", torch.float64)  # data may sit on the training device
    if x.dim() < 2 or len(x) == 0:
        raise UsageError(f"--plane needs data samples (N, *input shape), got a tensor of shape {tuple(x.shape)}")
    mode = str(mode).strip()
    if mode == "input" or (mode == "auto" and tuple(x.shape[1:]) == (2,)):
        return _input_plane(x)
    if mode == "auto":
        return _sample_plane(x, _auto_indices(x, labels))
    return _sample_plane(x, _parse_indices(mode, len(x)))


def _input_plane(x: torch.Tensor) -> Plane:
    if tuple(x.shape[1:]) != (2,):
        raise UsageError(f"--plane input needs 2-D inputs (samples of shape (2,)), got samples of shape "
                         f"{tuple(x.shape[1:])}; use --plane auto or three sample indices i,j,k")
    lo, hi = x.min(0).values.numpy(), x.max(0).values.numpy()
    span = np.where(hi > lo, hi - lo, 1.0)  # one distinct value: a unit-wide box around it
    lo, hi = lo - 0.1 * span, hi + 0.1 * span
    eye = torch.eye(2, dtype=torch.float64)
    return Plane(torch.zeros(2, dtype=torch.float64), eye[0], eye[1],
                 (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])), ("x1 (network input)", "x2 (network input)"))


def _parse_indices(mode: str, n: int) -> tuple:
    parts = [p.strip() for p in mode.split(",")]
    if len(parts) != 3 or not all(p.lstrip("-").isdigit() for p in parts):
        raise UsageError(f"--plane expects auto, input or three sample indices i,j,k (e.g. 0,1,2), got {mode!r}")
    indices = tuple(int(p) for p in parts)
    for i in indices:
        if not 0 <= i < n:
            raise UsageError(f"--plane index {i} is outside the {n} samples (0..{n - 1})")
    if len(set(indices)) < 3:
        raise UsageError(f"--plane needs three different samples, got {mode!r} (an index repeats)")
    return indices


def label_list(labels: Any) -> list:
    """Labels (a tensor on any device, an array or a list) as a flat list of Python values."""
    labels = labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels
    return np.asarray(labels).reshape(-1).tolist()


def _spans(x: torch.Tensor, i: int, j: int, k: Optional[int] = None) -> bool:
    """Whether x[j] - x[i] (and x[k] - x[i]) are nonzero and, with k, not parallel."""
    a = (x[j] - x[i]).flatten()
    aa = float(a @ a)
    if k is None:
        return aa > 0
    b = (x[k] - x[i]).flatten()
    bb, ab = float(b @ b), float(a @ b)
    return aa > 0 and bb > 0 and aa * bb - ab * ab > 1e-12 * aa * bb


def _sample_plane(x: torch.Tensor, indices: tuple) -> Plane:
    i, j, k = indices
    if not _spans(x, i, j, k):
        raise UsageError(f"--plane samples {i},{j},{k} are collinear in input space (x[{j}] - x[{i}] and "
                         f"x[{k}] - x[{i}] are parallel or zero), so they span no plane; choose three other samples")
    return Plane(x[i].clone(), x[j] - x[i], x[k] - x[i], (-0.25, 1.25, -0.25, 1.25),
                 (f"u (steps of x[{j}] - x[{i}])", f"v (steps of x[{k}] - x[{i}])"), (i, j, k))


def _auto_indices(x: torch.Tensor, labels: Any) -> tuple:
    """The first samples of distinct classes (or the first samples), skipping any that would not span a plane."""
    order = list(range(len(x)))
    if labels is not None:
        names = label_list(labels)
        if len(names) != len(x):
            raise UsageError(f"--plane auto got {len(names)} labels for {len(x)} samples")
        firsts: dict = {}
        for i, label in enumerate(names):
            firsts.setdefault(label, i)
        order = list(firsts.values()) + [i for i in order if i not in set(firsts.values())]
    chosen: list[int] = []
    for i in order:
        if not chosen or _spans(x, *chosen, i):  # a new point, then one off the line of the first two
            chosen.append(i)
        if len(chosen) == 3:
            return tuple(chosen)
    raise UsageError(f"--plane auto needs three samples that span a plane; the {len(x)} samples do not")


# ---- flat polygon sets -------------------------------------------------------------------------

@dataclass
class _Box:
    """What the tolerances are relative to: the box's reach and area."""

    reach: float
    min_area: float

    @classmethod
    def of(cls, box: tuple) -> "_Box":
        u0, u1, v0, v1 = box
        return cls(max(abs(u0), abs(u1), abs(v0), abs(v1), u1 - u0, v1 - v0), MIN_AREA * (u1 - u0) * (v1 - v0))

    def tolerance(self, c: np.ndarray, au: np.ndarray, av: np.ndarray) -> np.ndarray:
        return RELATIVE_TOL * (np.abs(c) + (np.abs(au) + np.abs(av)) * self.reach)


def _sizes(starts: np.ndarray, n: int) -> np.ndarray:
    return np.diff(np.append(starts, n))


def _owners(starts: np.ndarray, n: int) -> np.ndarray:
    return np.repeat(np.arange(len(starts)), _sizes(starts, n))


def _following(starts: np.ndarray, n: int) -> np.ndarray:
    """Each vertex's successor around its own polygon."""
    nxt = np.arange(1, n + 1)
    nxt[np.append(starts[1:], n) - 1] = starts
    return nxt


def _take(verts: np.ndarray, starts: np.ndarray, idx: np.ndarray) -> tuple:
    """The polygons idx (in that order) as a new flat set."""
    sizes = _sizes(starts, len(verts))[idx]
    new_starts = np.cumsum(sizes) - sizes
    return verts[np.repeat(starts[idx] - new_starts, sizes) + np.arange(sizes.sum())], new_starts


def _join(parts: Sequence[tuple]) -> tuple:
    offsets = np.cumsum([0] + [len(v) for v, _ in parts])
    return (np.concatenate([v for v, _ in parts]).reshape(-1, 2),
            np.concatenate([s + o for (_, s), o in zip(parts, offsets)]).astype(np.int64))


def _areas(verts: np.ndarray, starts: np.ndarray) -> np.ndarray:
    if len(starts) == 0:
        return np.zeros(0)
    nxt = verts[_following(starts, len(verts))]
    return np.add.reduceat(verts[:, 0] * nxt[:, 1] - nxt[:, 0] * verts[:, 1], starts) / 2


def _values(verts: np.ndarray, starts: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """coef (P, 3) = (c, a_u, a_v) per polygon: c + a_u*u + a_v*v at every vertex."""
    own = coef[_owners(starts, len(verts))]
    return own[:, 0] + verts[:, 0] * own[:, 1] + verts[:, 1] * own[:, 2]


def _centroids(verts: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each polygon's vertex mean: inside it, since the polygons are convex."""
    return np.add.reduceat(verts, starts, axis=0) / _sizes(starts, len(verts))[:, None]


def _finish(points: np.ndarray, owner: np.ndarray, count: int, box: _Box) -> tuple:
    """(verts, starts, kept): the clipped polygons with 3+ vertices and more than the minimum area."""
    counts = np.bincount(owner, minlength=count)
    ok = counts >= 3
    points, counts = points[ok[owner]], counts[ok]
    starts = np.cumsum(counts) - counts
    big = _areas(points, starts) > box.min_area
    if not big.all():
        points, starts = _take(points, starts, np.flatnonzero(big))
    return points, starts, np.flatnonzero(ok)[big]


def _clip(verts: np.ndarray, starts: np.ndarray, d: np.ndarray, tol: np.ndarray, box: _Box,
          drop_flat: bool = False) -> tuple:
    """(verts, starts, kept): each polygon's part where d >= 0 (d given at its vertices, |d| <= tol
    counting as 0); `drop_flat` drops polygons lying wholly on the line (a tie broken the other way)."""
    n, owner = len(verts), _owners(starts, len(verts))
    d = np.where(np.abs(d) <= tol[owner], 0.0, d)
    nxt = _following(starts, n)
    dn = d[nxt]
    cross = d * dn < 0
    t = np.where(cross, d / np.where(cross, d - dn, 1.0), 0.0)
    inter = verts + t[:, None] * (verts[nxt] - verts)
    keep = d >= 0
    if drop_flat:
        keep &= (np.maximum.reduceat(np.abs(d), starts) > 0)[owner]
    mask = np.stack([keep, cross], 1).reshape(-1)
    points = np.stack([verts, inter], 1).reshape(-1, 2)[mask]
    return _finish(points, np.repeat(owner, 2)[mask], len(starts), box)


def _split(verts: np.ndarray, starts: np.ndarray, coef: np.ndarray, box: _Box) -> tuple:
    """(verts, starts, parent): the polygons cut by their line coef (P, 3) into both sides; the
    others kept whole (first, in order). parent: the polygon each new one came from."""
    d = _values(verts, starts, coef)
    tol = box.tolerance(coef[:, 0], coef[:, 1], coef[:, 2])
    cut = (np.minimum.reduceat(d, starts) < -tol) & (np.maximum.reduceat(d, starts) > tol)
    if not cut.any():
        return verts, starts, np.arange(len(starts))
    whole, cuts = np.flatnonzero(~cut), np.flatnonzero(cut)
    sub = _take(verts, starts, cuts)
    sub_d = d[cut[_owners(starts, len(verts))]]
    pos, neg = _clip(*sub, sub_d, tol[cuts], box), _clip(*sub, -sub_d, tol[cuts], box)
    joined = _join([_take(verts, starts, whole), pos[:2], neg[:2]])
    return joined[0], joined[1], np.concatenate([whole, cuts[pos[2]], cuts[neg[2]]])


# ---- pushing pieces through layers ---------------------------------------------------------------

@dataclass
class _Pieces:
    """The regions so far: flat polygons, the affine map (u, v) -> activation on each as maps
    (P, 3, *act) (rows b, A_u, A_v), each one's pattern hash and the piece it came from at the
    start of the enclosing branch (`origin`)."""

    verts: np.ndarray
    starts: np.ndarray
    maps: np.ndarray
    codes: np.ndarray
    origin: np.ndarray


@dataclass
class _Walk:
    box: _Box
    calls: int = 0  # nonlinear layers met so far: the key of each one's pattern hash


def _kind(module: Any) -> Optional[str]:
    if isinstance(module, nn.Sequential):
        return "sequence"
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) and not module.track_running_stats:
        return None  # batch statistics even in eval: not a function of one sample
    if isinstance(module, AFFINE):
        return "affine"
    if isinstance(module, THRESHOLDS):
        return "threshold"
    if isinstance(module, MAXPOOLS) and not module.return_indices:
        return "maxpool"
    if isinstance(module, Residual):
        return "residual"
    if isinstance(module, Parallel) and module.merge in ("sum", "concat"):
        return "parallel"
    return None


def _describe(module: Any) -> str:
    inner = getattr(module, "rnn", None)  # dlcli's Recurrent wraps the LSTM/GRU/RNN the user named
    return type(inner).__name__ if inner is not None else type(module).__name__


def _check(module: Any, name: str, path: str = "") -> None:
    """Raise UsageError naming the first layer that is not piecewise linear, before any work."""
    kind = _kind(module)
    if kind is None:
        raise UsageError(f"regions needs a piecewise-linear network: layer {path or '0'} ({_describe(module)}) of "
                         f"{name} is not piecewise linear ({PIECEWISE})")
    for child_name, child in _parts(module, kind):
        _check(child, name, f"{path}.{child_name}" if path else child_name)


def _parts(module: Any, kind: str) -> list:
    """(name, module) of a container's parts, in the order forward runs them."""
    if kind == "sequence":
        return list(module.named_children())
    if kind == "residual":
        return [("body", module.body), ("projection", module.projection)]
    if kind == "parallel":
        return [(f"branches.{i}", branch) for i, branch in enumerate(module.branches)]
    return []


def _float64(net: Any) -> Any:
    return copy.deepcopy(net).to(device="cpu", dtype=torch.float64).eval()


def _push(module: Any, pieces: _Pieces, walk: _Walk) -> _Pieces:
    kind = _kind(module)
    if kind == "sequence":
        for _, child in _parts(module, kind):
            pieces = _push(child, pieces, walk)
        return pieces
    if kind == "affine":
        return replace(pieces, maps=_affine(module, pieces.maps))
    if kind == "threshold":
        return _push_thresholds(module, pieces, walk)
    if kind == "maxpool":
        return _push_maxpool(module, pieces, walk)
    branches = [part for _, part in _parts(module, kind)]  # in forward's order, as the grid's hooks see them
    return _push_branches(branches, "sum" if kind == "residual" else module.merge, pieces, walk)


def _affine(module: Any, maps: np.ndarray) -> np.ndarray:
    """An affine layer on every map: L(b) and L(A_k) - L(0), exact for affine L."""
    count, act = maps.shape[0], maps.shape[2:]
    rows = torch.from_numpy(maps.reshape(count * 3, *act))
    zero = module(torch.zeros(1, *act, dtype=torch.float64))
    out = torch.cat([module(chunk) for chunk in rows.split(CHUNK)]).reshape(count, 3, *zero.shape[1:]).numpy()
    out[:, 1:] -= zero.numpy()
    return out


def _push_branches(branches: list, merge: str, pieces: _Pieces, walk: _Walk) -> _Pieces:
    """Every branch on the same input maps, each refining the pieces the one before left; the
    outputs, carried onto the final pieces, summed or concatenated on the channel axis."""
    inputs, above = pieces.maps, pieces.origin
    block = np.arange(len(pieces.starts))  # each current piece's piece at the block's start
    outs: list[np.ndarray] = []
    for branch in branches:
        pieces = replace(pieces, maps=inputs[block], origin=np.arange(len(block)))
        pieces = _push(branch, pieces, walk)
        outs = [out[pieces.origin] for out in outs] + [pieces.maps]
        block = block[pieces.origin]
    maps = sum(outs[1:], outs[0]) if merge == "sum" else np.concatenate(outs, axis=2)
    return replace(pieces, maps=maps, origin=above[block])


def _breakpoints(module: Any) -> tuple:
    if isinstance(module, nn.Hardtanh):
        return (float(module.min_val), float(module.max_val))
    return (0.0,)


def _cutting_units(verts: np.ndarray, starts: np.ndarray, maps: np.ndarray, level: float, box: _Box) -> np.ndarray:
    """The units whose pre-activation crosses `level` inside some polygon (only these can cut a piece
    of one); maps (P, 3, F); evaluated in blocks of units so the (vertices, units) table stays small."""
    owner, found = _owners(starts, len(verts)), []
    step = max(1, 4_000_000 // max(len(verts), 1))
    for first in range(0, maps.shape[2], step):
        m = maps[owner, :, first:first + step]  # (n, 3, f)
        z = m[:, 0] - level + verts[:, :1] * m[:, 1] + verts[:, 1:] * m[:, 2]
        tol = box.tolerance(maps[:, 0, first:first + step] - level, maps[:, 1, first:first + step],
                            maps[:, 2, first:first + step])
        cut = (np.minimum.reduceat(z, starts, axis=0) < -tol) & (np.maximum.reduceat(z, starts, axis=0) > tol)
        found.append(first + np.flatnonzero(cut.any(0)))
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _at_centroids(verts: np.ndarray, starts: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """maps (P, 3, F) evaluated at each polygon's vertex mean: (P, F)."""
    c = _centroids(verts, starts)
    return maps[:, 0] + c[:, :1] * maps[:, 1] + c[:, 1:] * maps[:, 2]


def _push_thresholds(module: Any, pieces: _Pieces, walk: _Walk) -> _Pieces:
    """relu / leaky_relu / hardtanh: cut each piece along every unit's breakpoint lines, then give
    each piece the map of its side."""
    count, act = len(pieces.starts), pieces.maps.shape[2:]
    maps = pieces.maps.reshape(count, 3, -1)
    verts, starts, src = pieces.verts, pieces.starts, np.arange(count)
    for level in _breakpoints(module):
        for unit in _cutting_units(verts, starts, maps[src], level, walk.box):
            coef = maps[src, :, unit] - np.array([level, 0.0, 0.0])
            verts, starts, parent = _split(verts, starts, coef, walk.box)
            src = src[parent]
    codes = _codes(module, _at_centroids(verts, starts, maps[src]).reshape(len(src), *act))
    out = _activated(module, maps[src], codes).reshape(len(src), 3, *act)
    return _Pieces(verts, starts, out, _hashed(pieces.codes[src], codes, walk), pieces.origin[src])


def _activated(module: Any, maps: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The maps (P, 3, F) after the activation, given each unit's side (codes (P, F))."""
    if isinstance(module, nn.Hardtanh):
        out = maps * (codes == 1)[:, None]
        out[:, 0] += np.where(codes == 0, module.min_val, 0.0) + np.where(codes == 2, module.max_val, 0.0)
        return out
    slope = module.negative_slope if isinstance(module, nn.LeakyReLU) else 0.0
    return maps * np.where(codes == 1, 1.0, slope)[:, None]


def _pair(value: Any, one_d: bool, fill: int = 1) -> tuple:
    """A pool argument as (height, width); a 1-d pool is a 2-d one of height 1 (`fill`)."""
    values = tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * (1 if one_d else 2)
    return (fill, values[0]) if one_d else values


def _windows(module: Any, act: tuple) -> np.ndarray:
    """(outputs, window size) indices into the flattened input of a maxpool, -1 for padding; the
    outputs in the order of the pool's flattened output."""
    import torch.nn.functional as F

    one_d = isinstance(module, nn.MaxPool1d)
    c, h, w = (act[0], 1, act[1]) if one_d else act
    k, s, d = (_pair(getattr(module, a), one_d) for a in ("kernel_size", "stride", "dilation"))
    p = _pair(module.padding, one_d, fill=0)
    out = module.forward(torch.zeros(1, *act, dtype=torch.float64)).shape  # forward: no grid hooks fire
    oh, ow = (1, out[-1]) if one_d else out[-2:]
    extra = [max(0, (o - 1) * st + dl * (kk - 1) + 1 - (size + 2 * pp))  # ceil_mode's last window
             for o, st, dl, kk, size, pp in zip((oh, ow), s, d, k, (h, w), p)]
    index = torch.arange(1, c * h * w + 1, dtype=torch.float64).reshape(1, c, h, w)
    padded = F.pad(index, (p[1], p[1] + extra[1], p[0], p[0] + extra[0]))
    cols = F.unfold(padded, k, dilation=d, stride=s)  # (1, c*kh*kw, lh*lw)
    lh = (padded.shape[2] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    cols = cols.reshape(c, k[0] * k[1], lh, -1)[:, :, :oh, :ow]
    return cols.permute(0, 2, 3, 1).reshape(c * oh * ow, k[0] * k[1]).long().numpy() - 1


def _window_values(z: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """z (N, F_in) -> (N, outputs, window size), -inf at padding (maxpool pads with -inf)."""
    return np.where(windows >= 0, z[:, np.maximum(windows, 0)], -np.inf)


def _split_max(verts: np.ndarray, starts: np.ndarray, cand: np.ndarray, box: _Box) -> tuple:
    """(verts, starts, parent): each polygon over which the argmax of its candidates cand (P, 3, K)
    changes, replaced by the parts where each candidate is the max (ties to the lower index)."""
    own = cand[_owners(starts, len(verts))]  # (n, 3, K)
    z = own[:, 0] + verts[:, :1] * own[:, 1] + verts[:, 1:] * own[:, 2]
    worst = np.maximum.reduceat(z.max(1, keepdims=True) - z, starts, axis=0)  # (P, K)
    tol = 2 * box.tolerance(cand[:, 0], cand[:, 1], cand[:, 2]).max(1)
    cut = worst.min(1) > tol
    if not cut.any():
        return verts, starts, np.arange(len(starts))
    whole, cuts = np.flatnonzero(~cut), np.flatnonzero(cut)
    sub = _take(verts, starts, cuts)
    parts, parents = [_take(verts, starts, whole)], [whole]
    for j in range(cand.shape[2]):
        (v, s), kept = sub, np.arange(len(cuts))
        for k in (k for k in range(cand.shape[2]) if k != j):
            if len(kept):
                coef = cand[cuts[kept], :, j] - cand[cuts[kept], :, k]
                v, s, ok = _clip(v, s, _values(v, s, coef), tol[cuts[kept]], box, drop_flat=k < j)
                kept = kept[ok]
        parts.append((v, s))
        parents.append(cuts[kept])
    joined = _join(parts)
    return joined[0], joined[1], np.concatenate(parents)


def _push_maxpool(module: Any, pieces: _Pieces, walk: _Walk) -> _Pieces:
    """maxpool: cut each piece where a window's argmax changes, then select each window's winner."""
    count, act = len(pieces.starts), pieces.maps.shape[2:]
    windows = _windows(module, act)
    maps = pieces.maps.reshape(count, 3, -1)
    verts, starts, src = pieces.verts, pieces.starts, np.arange(count)
    for row in windows:
        cols = row[row >= 0]
        if len(cols) > 1:
            verts, starts, parent = _split_max(verts, starts, maps[src][:, :, cols], walk.box)
            src = src[parent]
    codes = _codes(module, _at_centroids(verts, starts, maps[src]).reshape(len(src), *act))
    chosen = windows[np.arange(len(windows)), codes]  # (P, outputs): the input each output copies
    out = np.take_along_axis(maps[src], np.broadcast_to(chosen[:, None, :], (len(src), 3, len(windows))), 2)
    out_act = module.forward(torch.zeros(1, *act, dtype=torch.float64)).shape[1:]
    return _Pieces(verts, starts, out.reshape(len(src), 3, *out_act), _hashed(pieces.codes[src], codes, walk),
                   pieces.origin[src])


# ---- activation patterns -------------------------------------------------------------------------

def _codes(module: Any, z: np.ndarray) -> np.ndarray:
    """Each unit's piece for pre-activations z (N, *act): relu/leaky_relu 0|1, hardtanh 0|1|2
    (below, between, above), maxpool the winner's place in its window (uint64: windows can be large). (N, units)."""
    flat = z.reshape(len(z), -1)
    if isinstance(module, MAXPOOLS):
        return _window_values(flat, _windows(module, z.shape[1:])).argmax(2).astype(np.uint64)
    if isinstance(module, nn.Hardtanh):
        return (flat > module.min_val).astype(np.uint8) + (flat > module.max_val)
    return (flat > 0).astype(np.uint8)


@functools.lru_cache(maxsize=256)
def _hash_weights(key: int, width: int) -> np.ndarray:
    return np.random.default_rng([13, key]).integers(0, 2**64 - 1, size=width, dtype=np.uint64, endpoint=True) | 1


def _pattern_hash(codes: np.ndarray, key: int) -> np.ndarray:
    """A random linear hash mod 2^64 of one layer's codes (N, units), keyed by the layer's call
    order; a whole pattern's hash is the sum over its layers, the same for exact and grid counts."""
    return np.multiply(codes, _hash_weights(key, codes.shape[1])).sum(1, dtype=np.uint64)  # wraps mod 2^64


def _hashed(before: np.ndarray, codes: np.ndarray, walk: _Walk) -> np.ndarray:
    walk.calls += 1
    return before + _pattern_hash(codes, walk.calls - 1)


# ---- the counts ----------------------------------------------------------------------------------

@dataclass
class Regions:
    """The activation regions of a network on a plane's box: `polygons` (each (k, 2) float64, in
    (u, v)), their pattern hashes `patterns` (distinct ints), the affine map of the network output
    on each, `maps` [(A (2, out), b (out,))], the box's `area`, the `box` and the `seconds` taken."""

    polygons: list
    patterns: list
    maps: list
    area: float
    box: tuple
    seconds: float

    @property
    def count(self) -> int:
        return len(self.polygons)

    @property
    def density(self) -> float:
        """Regions per unit area of the plane."""
        return self.count / self.area


def _start(plane: Plane) -> _Pieces:
    u0, u1, v0, v1 = plane.box
    if not (u1 > u0 and v1 > v0):
        raise UsageError(f"the plane's box {plane.box} is empty: expected u0 < u1 and v0 < v1")
    maps = torch.stack([plane.origin, plane.d1, plane.d2]).numpy()[None]  # (1, 3, *input)
    verts = np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]], dtype=np.float64)
    first = np.zeros(1, dtype=np.int64)
    return _Pieces(verts, first, maps.copy(), np.zeros(1, dtype=np.uint64), first.copy())


def _prepared(net: Any, plane: Plane, name: str) -> tuple:
    """(the float64 eval copy of net, the plane in float64), after checking both."""
    net64 = _float64(net)
    _check(net64, name)
    vectors = [torch.as_tensor(t, dtype=torch.float64).cpu() for t in (plane.origin, plane.d1, plane.d2)]
    if len({tuple(t.shape) for t in vectors}) > 1:
        shapes = [tuple(t.shape) for t in vectors]
        raise UsageError(f"the plane's origin, d1 and d2 must share one shape, got {shapes}")
    try:
        with torch.no_grad():
            net64(vectors[0][None])
    except RuntimeError as e:
        raise UsageError(f"{name} does not take inputs of the plane's shape {tuple(vectors[0].shape)}: {e}") from None
    return net64, replace(plane, origin=vectors[0], d1=vectors[1], d2=vectors[2], box=tuple(map(float, plane.box)))


def exact_regions(net: Any, plane: Plane, name: str = "net") -> Regions:
    """The exact activation regions of a piecewise-linear `net` on `plane`'s box, computed in float64
    on a copy of the net in eval mode; UsageError naming the first layer that is not piecewise linear."""
    started = time.perf_counter()
    net64, plane = _prepared(net, plane, name)
    with torch.no_grad():
        pieces = _push(net64, _start(plane), _Walk(_Box.of(plane.box)))
    flat = pieces.maps.reshape(len(pieces.starts), 3, -1)
    return Regions(polygons=np.split(pieces.verts, pieces.starts[1:]), patterns=[int(c) for c in pieces.codes],
                   maps=[(m[1:].copy(), m[0].copy()) for m in flat], area=plane.area, box=plane.box,
                   seconds=time.perf_counter() - started)


def _grid_points(box: tuple, resolution: int) -> np.ndarray:
    u0, u1, v0, v1 = box
    u = u0 + (np.arange(resolution) + 0.5) * (u1 - u0) / resolution
    v = v0 + (np.arange(resolution) + 0.5) * (v1 - v0) / resolution
    uu, vv = np.meshgrid(u, v, indexing="ij")
    return np.stack([uu.ravel(), vv.ravel()], 1)


def _grid_patterns(net: Any, plane: Plane, resolution: int = 256, name: str = "net") -> np.ndarray:
    """The distinct pattern hashes (as exact_regions computes them) at the centres of a grid."""
    net64, plane = _prepared(net, plane, name)
    state = {"calls": 0, "hash": None}

    def record(module, inputs):
        z = inputs[0].detach().numpy()
        state["hash"] = state["hash"] + _pattern_hash(_codes(module, z), state["calls"])
        state["calls"] += 1

    hooks = [m.register_forward_pre_hook(record) for m in net64.modules() if _kind(m) in ("threshold", "maxpool")]
    found = []
    try:
        with torch.no_grad():
            for chunk in np.array_split(_grid_points(plane.box, resolution), max(1, resolution**2 // CHUNK)):
                state.update(calls=0, hash=np.zeros(len(chunk), dtype=np.uint64))
                net64(plane.at(chunk))
                found.append(np.unique(state["hash"]))
    finally:
        for hook in hooks:
            hook.remove()
    return np.unique(np.concatenate(found))


def grid_regions(net: Any, plane: Plane, resolution: int = 256, name: str = "net") -> int:
    """The distinct activation patterns at the centres of a resolution x resolution grid on the
    plane's box: a lower bound on the exact count (small regions fall between grid points)."""
    return len(_grid_patterns(net, plane, resolution, name))


# ---- the decision boundary ---------------------------------------------------------------------

def _chords(verts: np.ndarray, starts: np.ndarray, coef: np.ndarray, box: _Box) -> list:
    """The segments where each polygon meets its line coef (P, 3) = 0: a list of (2, 2) arrays."""
    if len(starts) == 0:
        return []
    owner, tol = _owners(starts, len(verts)), box.tolerance(coef[:, 0], coef[:, 1], coef[:, 2])
    d = _values(verts, starts, coef)
    d = np.where(np.abs(d) <= tol[owner], 0.0, d)
    nxt = _following(starts, len(verts))
    cross = d * d[nxt] < 0
    t = np.where(cross, d / np.where(cross, d - d[nxt], 1.0), 0.0)
    inter = verts + t[:, None] * (verts[nxt] - verts)
    points = np.concatenate([verts[d == 0], inter[cross]])
    own = np.concatenate([owner[d == 0], owner[cross]])
    along = np.einsum("nk,nk->n", points, np.stack([-coef[own, 2], coef[own, 1]], 1))
    order = np.lexsort((along, own))
    points, own = points[order], own[order]
    _, first, counts = np.unique(own, return_index=True, return_counts=True)
    last = first + counts - 1
    long = np.linalg.norm(points[last] - points[first], axis=1) > 1e-9 * box.reach
    return [np.stack([points[a], points[b]]) for a, b in zip(first[long], last[long])]


def decision_boundary(result: Regions) -> list:
    """Where a classifier's top two output scores tie (one output: where it crosses 0), from the
    regions' affine maps: a list of (2, 2) segments in (u, v)."""
    if not result.polygons:
        return []
    verts = np.concatenate(result.polygons)
    starts = np.cumsum([0] + [len(p) for p in result.polygons[:-1]])
    b = np.stack([m[1] for m in result.maps])  # (P, out)
    a = np.stack([m[0] for m in result.maps])  # (P, 2, out)
    scores = np.concatenate([b[:, None], a], 1)  # (P, 3, out)
    box = _Box.of(result.box)
    if scores.shape[2] == 1:
        return _chords(verts, starts, scores[:, :, 0], box)
    segments = []
    for c, k in ((c, k) for c in range(scores.shape[2]) for k in range(c + 1, scores.shape[2])):
        segments += _tie_segments(verts, starts, scores, c, k, box)
    return segments


def _tie_segments(verts: np.ndarray, starts: np.ndarray, scores: np.ndarray, c: int, k: int, box: _Box) -> list:
    """Where scores c and k tie and no other score beats them."""
    v, s, kept = verts, starts, np.arange(len(starts))
    for m in (m for m in range(scores.shape[2]) if m not in (c, k)):
        for top in (c, k):
            if len(kept):
                coef = scores[kept, :, top] - scores[kept, :, m]
                v, s, ok = _clip(v, s, _values(v, s, coef), box.tolerance(*coef.T), box)
                kept = kept[ok]
    return _chords(v, s, scores[kept, :, c] - scores[kept, :, k], box) if len(kept) else []


# ---- upper bounds --------------------------------------------------------------------------------

def zaslavsky_bound(hidden: int, n_in: int = 2) -> int:
    """sum_{i=0..n_in} C(hidden, i): the regions of `hidden` hyperplanes in general position in R^n_in
    (Zaslavsky 1975), the most a one-hidden-layer ReLU net can have."""
    return sum(math.comb(hidden, i) for i in range(n_in + 1))


def serra_bound(widths: Sequence[int], n_in: int = 2) -> int:
    """Serra, Tjandraatmadja & Ramalingam (2018) Theorem 1: at most sum over J of prod_l C(n_l, j_l)
    regions for a ReLU net of hidden widths n_1..n_L on n_in inputs, J = {0 <= j_l <= min(n_in,
    n_1 - j_1, ..., n_{l-1} - j_{l-1}, n_l)}; exact Python ints by a DP over the running min."""
    weights = {n_in: 1}  # running cap min(n_in, n_l - j_l so far) -> summed products
    for width in widths:
        after: dict[int, int] = {}
        for cap, total in weights.items():
            for j in range(min(cap, width) + 1):
                key = min(cap, width - j)
                after[key] = after.get(key, 0) + total * math.comb(width, j)
        weights = after
    return sum(weights.values())


def _layers(module: Any) -> list:
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _layers(child)]
    return [module]


def hidden_widths(net: Any) -> Optional[list]:
    """The widths of the relu (or leaky_relu) layers of a plain MLP -- linear layers and those
    activations only -- or None for any other network (the region bounds are for plain MLPs)."""
    widths, width = [], None
    for layer in _layers(net):
        if isinstance(layer, nn.Linear):
            width = layer.out_features
        elif type(layer) in (nn.ReLU, nn.LeakyReLU) and width is not None:
            widths.append(width)
        elif not isinstance(layer, (nn.Identity, nn.Dropout, nn.Flatten)):
            return None
    return widths
