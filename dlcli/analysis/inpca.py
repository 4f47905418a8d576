"""The InPCA atlas: models as points in prediction space (numpy only, no torch).

Each point is one model at one epoch, given by its predicted class probabilities on a fixed
probe set of N samples, P_u in R^{N x C}. The distance between two models is the mean
per-sample Bhattacharyya distance (Mao et al., "The training process of many deep networks
explores the same low-dimensional manifold", PNAS 2024), and InPCA (Quinn et al., "Visualizing
probabilistic models and data with Intensive Principal Component Analysis", PNAS 2019) embeds
those distances: classical MDS that keeps the negative eigenvalues with their sign, so the
embedding is exact in a Minkowski-like space rather than squeezed into a Euclidean one.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

# A Bhattacharyya coefficient below FLOOR counts as FLOOR: two models that put all their mass on
# different classes of a sample (float16 underflow makes that easy) are -log(FLOOR) = 36.8 nats
# apart on it instead of infinitely far, so one sample cannot make a distance infinite.
FLOOR = 1e-16
# Coefficients are multiplied GROUP at a time before one log (a log costs ten products);
# FLOOR ** GROUP = 1e-256 stays above float64's smallest normal number (2.2e-308).
GROUP = 16
# Models per side of a block of pairs: a (chunk, 128, 128) float64 block stays in cache, where a
# (chunk, m, m) one streams through memory and runs ten times slower.
BLOCK = 128


def _probabilities(P: np.ndarray) -> np.ndarray:
    """(m, N, C) probabilities as float64, each row renormalised to sum to 1."""
    P = np.asarray(P)
    if P.ndim != 3 or 0 in P.shape:
        raise ValueError(f"P must be (models, samples, classes) probabilities, got shape {P.shape}")
    P = P.astype(np.float64)
    if not np.isfinite(P).all() or (P < 0).any():
        raise ValueError("P must hold finite probabilities >= 0; it has negative, NaN or infinite values")
    sums = P.sum(axis=-1, keepdims=True)
    if (sums <= 0).any():
        u, n, _ = np.argwhere(sums <= 0)[0]
        raise ValueError(f"P[{u}, {n}] (model {u}, sample {n}) sums to 0: no class has any probability")
    P /= sums
    return P


def _distinct(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of each distinct row's first copy, each row's distinct index), by the hash of its
    bytes: np.unique(axis=0) would sort three more copies of the array."""
    slot: dict[bytes, int] = {}
    keep, inverse = [], []
    for u, row in enumerate(P):
        digest = hashlib.blake2b(row.tobytes()).digest()
        if digest not in slot:
            slot[digest] = len(keep)
            keep.append(u)
        inverse.append(slot[digest])
    return np.array(keep, dtype=np.intp), np.array(inverse, dtype=np.intp)


def _block(S: np.ndarray, rows: slice, cols: slice, chunk: int) -> np.ndarray:
    """sum_n log B_n[u, v] over all samples for one block of pairs; S is sqrt(P) as (N, m, C)."""
    total = np.zeros((len(S[0, rows]), len(S[0, cols])))
    for start in range(0, S.shape[0], chunk):
        a = S[start:start + chunk, rows]  # (n, bu, C)
        b = S[start:start + chunk, cols]  # (n, bv, C)
        coefficients = np.matmul(a, b.transpose(0, 2, 1))  # (n, bu, bv)
        np.maximum(coefficients, FLOOR, out=coefficients)
        for g in range(0, len(coefficients), GROUP):
            total += np.log(np.prod(coefficients[g:g + GROUP], axis=0))
    return total


def _distances(S: np.ndarray, chunk: int) -> np.ndarray:
    """The (m, m) distances of distinct models: blocks of the upper triangle, mirrored."""
    n, m, _ = S.shape
    D = np.zeros((m, m))
    for i in range(0, m, BLOCK):
        for j in range(i, m, BLOCK):
            D[i:i + BLOCK, j:j + BLOCK] = _block(S, slice(i, i + BLOCK), slice(j, j + BLOCK), chunk)
    D = np.triu(D)
    D = -(D + np.triu(D, 1).T) / n
    np.maximum(D, 0.0, out=D)  # a coefficient rounded above 1 gives a tiny negative distance
    np.fill_diagonal(D, 0.0)
    return D


def bhattacharyya(P: np.ndarray, chunk: int = 16) -> np.ndarray:
    """The (m, m) matrix D_uv = -(1/N) sum_n log(sum_c sqrt(P_u[n, c] P_v[n, c])) of models
    P (m, N, C), float16/32/64 probabilities (each row renormalised in float64 first).

    Symmetric, >= 0, exactly 0 on the diagonal and between identical models (they are found
    first and computed once). `chunk` probe samples at a time: memory stays O(m^2 + m N C),
    never an (m, m, N) array. A per-sample coefficient is floored at FLOOR (see above)."""
    if int(chunk) < 1:
        raise ValueError(f"chunk must be a positive number of probe samples, got {chunk}")
    P = _probabilities(P)
    keep, inverse = _distinct(P)
    np.sqrt(P, out=P)
    S = np.empty((P.shape[1], len(keep), P.shape[2]))  # (N, m_distinct, C): one sample's models together
    for i, u in enumerate(keep):
        S[:, i] = P[u]  # one model at a time: P[keep] would be one more copy of P
    del P
    return _distances(S, int(chunk))[np.ix_(inverse, inverse)]


@dataclass(frozen=True)
class InPCA:
    """An InPCA embedding: `eigenvalues` (K,) signed, ordered by |eigenvalue| descending;
    `coords` (m, K) with coords[:, k] = sqrt(|lambda_k|) u_k; `cumulative` (m,) the running
    sum of lambda^2 over all m components in that order, kept whatever K is, so the stress the
    top k explain is known for every k."""

    eigenvalues: np.ndarray
    coords: np.ndarray
    cumulative: np.ndarray

    @property
    def signs(self) -> np.ndarray:
        """+1 for a space-like component, -1 for a time-like one (a negative eigenvalue):
        D_uv = sum_k signs_k (coords[u, k] - coords[v, k])^2 with all components kept."""
        return np.where(self.eigenvalues < 0, -1, 1)

    def explained_stress(self, k: int) -> float:
        """The fraction of the stress ||W||_F^2 = sum_i lambda_i^2 (over all m eigenvalues of
        W = -1/2 L D L) that the top k components explain: sum_{i<=k} lambda_i^2 / sum_i lambda_i^2.
        1.0 for every k when all points coincide (there is no stress to explain)."""
        if not 1 <= k <= len(self.cumulative):
            raise ValueError(f"k must be 1..{len(self.cumulative)} components, got {k}")
        total = self.cumulative[-1]
        return 1.0 if total == 0 else float(self.cumulative[k - 1] / total)


def _checked(D: np.ndarray) -> np.ndarray:
    """A square, finite, symmetric float64 matrix with a zero diagonal, made exactly symmetric."""
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1] or len(D) == 0:
        raise ValueError(f"D must be a square (m, m) distance matrix, got shape {D.shape}")
    if not np.isfinite(D).all():
        raise ValueError("D must be finite; it has NaN or infinite distances")
    tolerance = 1e-9 * max(float(np.abs(D).max()), 1.0)
    if np.abs(D - D.T).max() > tolerance or np.abs(np.diag(D)).max() > tolerance:
        raise ValueError("D must be symmetric with a zero diagonal (a distance of each model to itself)")
    upper = np.triu(D, 1)
    return upper + upper.T


def _oriented(U: np.ndarray) -> np.ndarray:
    """Each eigenvector's sign flipped so its largest entry is positive: eigh's signs are
    arbitrary, and the same distances must draw the same picture."""
    largest = U[np.argmax(np.abs(U), axis=0), np.arange(U.shape[1])]
    return U * np.where(largest < 0, -1.0, 1.0)


def inpca(D: np.ndarray, components: Optional[int] = None) -> InPCA:
    """InPCA of a distance matrix D (m, m): the eigendecomposition of W = -1/2 L D L,
    L = I - 11^T/m, ordered by |eigenvalue| with negative eigenvalues kept and signed; the top
    `components` (all m when None). Models with identical rows of D get identical coords."""
    D = _checked(D)
    m = len(D)
    if components is not None and int(components) < 1:
        raise ValueError(f"components must be >= 1, got {components}")
    k = m if components is None else min(int(components), m)
    means = D.mean(axis=1)  # row means == column means (D is symmetric), so W is exactly symmetric
    W = -0.5 * (D - means[:, None] - means[None, :] + means.mean())
    values, vectors = np.linalg.eigh(W)
    order = np.argsort(-np.abs(values), kind="stable")
    values, vectors = values[order], _oriented(vectors[:, order])
    coords = vectors[:, :k] * np.sqrt(np.abs(values[:k]))
    keep, inverse = _distinct(D)
    coords = coords[keep[inverse]]  # a zero-eigenvalue direction must not split twins
    return InPCA(eigenvalues=values[:k], coords=coords, cumulative=np.cumsum(values ** 2))


def embed(P: np.ndarray, components: int = 3) -> dict:
    """Bhattacharyya distances of models P (m, N, C) and their InPCA, as JSON-able data:
    points, coords (m x components), eigenvalues and signs of those components,
    explained_stress for k = 1..components, and the seconds each stage took."""
    started = time.perf_counter()
    D = bhattacharyya(P)
    measured = time.perf_counter()
    result = inpca(D, components)
    finished = time.perf_counter()
    k = result.coords.shape[1]
    return {"points": len(D), "coords": result.coords.tolist(), "eigenvalues": result.eigenvalues.tolist(),
            "signs": result.signs.tolist(), "explained_stress": [result.explained_stress(i) for i in range(1, k + 1)],
            "seconds": {"distances": round(measured - started, 4), "eigen": round(finished - measured, 4)}}
