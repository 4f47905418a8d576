"""The InPCA atlas at the size of a sweep: Bhattacharyya distances and InPCA of 1500 models.

50 runs x 30 epochs x 512 probe samples x 10 classes, synthetic and seeded: each run is a random
path of logits (a drift from near-uniform towards a shared teacher's logits, plus the run's own
direction and a random walk), softmaxed and stored float16, as an atlas reads predictions back
from run directories. So m = 1500 points. dlcli.analysis.inpca.bhattacharyya and .inpca are
timed best of --repeats (3); peak memory is what tracemalloc traced during one more, untimed
call (numpy reports its arrays to tracemalloc; LAPACK's workspace is not traced), and the
process's peak resident size is given at the end.

The baseline is the direct formula as a double Python loop over pairs of models, one numpy
expression per pair, run on the first --naive (100) points and extrapolated to all m^2 ordered
pairs (the loop does every ordered pair, as written naively); the extrapolation is stated.

    .venv/bin/python benchmarks/atlas.py [--runs 50] [--epochs 30] [--samples 512] [--classes 10]
        [--repeats 3] [--naive 100] [--write]

--write appends the table and the machine to benchmarks/RESULTS.md.
"""
from __future__ import annotations

from _machine import publish  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
import argparse
import os
import platform
import resource
import time
import tracemalloc
from typing import Callable

import numpy as np

from dlcli.analysis.inpca import bhattacharyya, inpca

HEADING = "## InPCA atlas (benchmarks/atlas.py)"
SEED = 0


def predictions(runs: int, epochs: int, samples: int, classes: int) -> np.ndarray:
    """(runs * epochs, samples, classes) float16 softmax outputs along seeded random logit paths."""
    rng = np.random.default_rng(SEED)
    teacher = 4.0 * rng.standard_normal((samples, classes))
    paths = []
    for _ in range(runs):
        own = rng.standard_normal((samples, classes))
        walk = np.cumsum(0.15 * rng.standard_normal((epochs, samples, classes)), axis=0)
        progress = np.linspace(0.0, 1.0, epochs)[:, None, None]
        logits = progress * (teacher + rng.uniform(0.5, 2.0) * own) + walk
        logits -= logits.max(axis=-1, keepdims=True)
        p = np.exp(logits)
        paths.append((p / p.sum(axis=-1, keepdims=True)).astype(np.float16))
    return np.concatenate(paths)


def naive(P: np.ndarray) -> np.ndarray:
    """The formula as written: every ordered pair, one numpy expression each."""
    P = P.astype(np.float64)
    P /= P.sum(axis=-1, keepdims=True)
    m = len(P)
    D = np.zeros((m, m))
    for u in range(m):
        for v in range(m):
            D[u, v] = -np.mean(np.log(np.maximum(np.sum(np.sqrt(P[u] * P[v]), axis=-1), 1e-16)))
    return D


def best_of(repeats: int, work: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def traced_peak(work: Callable[[], object]) -> float:
    """MiB of the largest traced allocation total during one call."""
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        tracemalloc.stop()


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{platform.platform()}, {platform.processor() or platform.machine()}, python {platform.python_version()}, "
            f"numpy {np.__version__}, {os.cpu_count()} CPUs ({cores} usable)")


def measure(args: argparse.Namespace) -> dict:
    """Seconds and traced peaks of both stages, and the naive loop on the first --naive points."""
    P = predictions(args.runs, args.epochs, args.samples, args.classes)
    t_d, D = best_of(args.repeats, lambda: bhattacharyya(P))
    t_e, result = best_of(args.repeats, lambda: inpca(D))
    k = min(args.naive, len(P))
    t_n, D_n = best_of(1, lambda: naive(P[:k]))
    return {"m": len(P), "k": k, "distances": t_d, "eigen": t_e, "naive": t_n, "result": result,
            "error": float(np.abs(D_n - D[:k, :k]).max()),
            "mem_d": traced_peak(lambda: bhattacharyya(P)), "mem_e": traced_peak(lambda: inpca(D))}


def rows(args: argparse.Namespace) -> list[str]:
    r = measure(args)
    m, k, result = r["m"], r["k"], r["result"]
    scale = (m / k) ** 2
    size = f"{args.runs} runs x {args.epochs} epochs x {args.samples} samples x {args.classes} classes, float16"
    stress = (f"top 3 explain {100 * result.explained_stress(min(3, m)):.1f}% of the stress, "
              f"{int((result.eigenvalues < 0).sum())} negative eigenvalues")
    return [HEADING, "", f"{size}: m = {m} points; best of {args.repeats}.", "",
            "| stage | points | seconds | peak traced MiB | note |", "|---|---|---|---|---|",
            f"| bhattacharyya (blocked, chunked) | {m} | {r['distances']:.3f} | {r['mem_d']:.1f} | "
            f"the (m, m) float64 result is {m * m * 8 / 2 ** 20:.1f} MiB |",
            f"| inpca (eigh of W, all components) | {m} | {r['eigen']:.3f} | {r['mem_e']:.1f} | {stress} |",
            f"| naive double loop, measured | {k} | {r['naive']:.3f} | | {k * k} ordered pairs; "
            f"max abs difference from bhattacharyya {r['error']:.1e} |",
            f"| naive double loop, extrapolated | {m} | {r['naive'] * scale:.1f} | | measured x (m/{k})^2 = "
            f"x{scale:.0f} pairs (not run); {r['naive'] * scale / r['distances']:.0f}x bhattacharyya |",
            "", f"Machine: {machine()}; process peak RSS "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive", type=int, default=100, help="points the naive double loop runs on")
    parser.add_argument("--write", action="store_true", help="append the result to benchmarks/RESULTS.md")
    args = parser.parse_args()
    publish(rows(args), args.write)


if __name__ == "__main__":
    main()
