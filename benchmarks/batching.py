"""Device-resident batching against DataLoader(TensorDataset): µs per batch, side by side.

dlcli keeps an in-memory dataset as tensors on the training device and forms each batch by
indexing them with a slice of a seeded permutation, as dlcli/engine/loop.py `fit` and `batch` do:
`perm = torch.randperm(n, generator=gen, device=device)`, then `x[perm[i*bs:(i+1)*bs]]`. The
baseline is what a typical PyTorch script writes: `DataLoader(TensorDataset(x, y), batch_size=bs,
shuffle=True, generator=g)` with the default num_workers=0, and also with --workers (2) persistent
workers (--workers 0 leaves that one out). On CUDA the loader pins memory and each batch is copied
with `.to(device, non_blocking=True)`; every clock stops after `torch.cuda.synchronize()`.

Data, generated from a fixed seed (no downloads), 10 classes: digits-shaped, 1797 x 1x8x8 float32
(values 0..16), and CIFAR-shaped, 50,000 x 3x32x32 (values 0..255). The CIFAR-shaped set is kept
resident twice: as uint8, as dlcli keeps raw 8-bit images, and as float32, the very tensor the
loader gets, so that pair is apples to apples. Batch sizes 64 and 512.

A timing is whole epochs, reshuffle included, as many as fill --seconds (0.3): one epoch of the
CIFAR-shaped set through a loader already takes that long, so it gets one there, and the default
run stays near a minute on 2 cores. Each contender first runs one warm-up epoch, reported apart
(for the workers it includes their start). The consumer only counts each batch's samples, checked
against n: batches are eager tensors, already materialised, and real work on them would add the
same cost to both sides and hide the difference measured. Contenders alternate for --repeats
rounds; medians are compared as DataLoader µs / resident µs. Target: >= 10x. Each timing also
records the CPU other processes used meanwhile (from /proc/stat), in cores; one disturbed by more
than --max-foreign cores is taken again (up to --retries times) and the least disturbed is kept.

    .venv/bin/python benchmarks/batching.py [--repeats 5] [--device auto|cpu|cuda] [--workers 2]
        [--seconds 0.3] [--max-foreign 0.1] [--retries 2] [--samples-scale 1.0] [--write]

--samples-scale shrinks both datasets (the smoke test uses 0.01). --write appends the tables and
the machine to benchmarks/RESULTS.md.
"""
from __future__ import annotations

from _machine import busy_seconds  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
import argparse
import contextlib
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Batching (benchmarks/batching.py)"
SEED, BATCHES, TARGET = 0, [64, 512], 10.0
# name: (samples, sample shape, largest value, resident dtypes)
DATASETS = {"digits": (1797, (1, 8, 8), 16, ("float32",)), "cifar": (50_000, (3, 32, 32), 255, ("uint8", "float32"))}
Epoch = Callable[[], tuple[int, int]]  # one epoch -> (batches, samples seen)


# --- the contenders ------------------------------------------------------------------------------

def make_data(name: str, scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x as uint8, the same x as float32, y) on the host, from a fixed seed."""
    n, shape, high = DATASETS[name][:3]
    rng = np.random.default_rng(SEED)
    x = torch.from_numpy(rng.integers(0, high + 1, size=(max(1, round(n * scale)), *shape), dtype=np.uint8))
    return x, x.float(), torch.from_numpy(rng.integers(0, 10, size=len(x)))


def consume(xb: torch.Tensor, yb: torch.Tensor) -> int:
    """The same for every contender, and free: only forming the batch is timed."""
    return yb.shape[0]


def resident(x: torch.Tensor, y: torch.Tensor, bs: int, device: torch.device) -> Epoch:
    """dlcli's batching: the tensors on the device, each batch gathered by a slice of a seeded permutation."""
    x, y = x.to(device), y.to(device)
    gen = torch.Generator(device=device).manual_seed(SEED)
    n = len(x)
    steps = -(-n // bs)  # every sample once, as the loader gives them (dlcli's rule against 1-sample batches aside)

    def epoch() -> tuple[int, int]:
        perm = torch.randperm(n, generator=gen, device=device)
        seen = 0
        for i in range(steps):
            idx = perm[i * bs:(i + 1) * bs]
            seen += consume(x[idx], y[idx])
        return steps, seen

    return epoch


def loader(x: torch.Tensor, y: torch.Tensor, bs: int, device: torch.device, workers: int) -> Epoch:
    """The usual script: a shuffling DataLoader over host tensors, each batch copied to the device."""
    cuda = device.type == "cuda"
    dl = DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True, generator=torch.Generator().manual_seed(SEED),
                    num_workers=workers, persistent_workers=workers > 0, pin_memory=cuda)

    def epoch() -> tuple[int, int]:
        steps = seen = 0
        for xb, yb in dl:
            if cuda:
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            steps, seen = steps + 1, seen + consume(xb, yb)
        return steps, seen

    return epoch


def contenders(name: str, data: tuple, bs: int, device: torch.device, workers: int) -> dict[str, Epoch]:
    x8, x32, y = data
    runs = {f"resident {dtype}": resident(x8 if dtype == "uint8" else x32, y, bs, device)
            for dtype in DATASETS[name][3]}
    runs["DataLoader num_workers=0"] = loader(x32, y, bs, device, 0)
    if workers:
        runs[f"DataLoader num_workers={workers}"] = loader(x32, y, bs, device, workers)
    return runs


# --- timing, with the machine's other load measured ----------------------------------------------

def family_seconds() -> float:
    """CPU seconds of this process and its live children: the loader's persistent workers are not
    joined while they work, so os.times() alone would count their CPU as other processes' load."""
    t, me, ticks = os.times(), str(os.getpid()), 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):  # a process may end while we read
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[1] == me:
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
    children = ticks / os.sysconf("SC_CLK_TCK") if ticks else 0.0
    return t.user + t.system + t.children_user + t.children_system + children


def timed(epoch: Epoch, n: int, device: torch.device, seconds: float) -> dict:
    """Whole epochs, as many as fill `seconds` (a /proc/stat tick is 10 ms: shorter timings could
    not tell other processes' load): µs per batch, seconds, epochs, and that load in cores."""
    busy, own, start = busy_seconds(), family_seconds(), time.perf_counter()
    batches = done = 0
    while not done or time.perf_counter() - start < seconds:
        steps, seen = epoch()
        assert seen == n, f"an epoch delivered {seen} samples of {n}"
        batches, done = batches + steps, done + 1
    if device.type == "cuda":
        torch.cuda.synchronize()  # gathers and copies are only queued until here
    wall = time.perf_counter() - start
    foreign = max(0.0, busy_seconds() - busy - (family_seconds() - own)) / wall
    return {"us": wall / batches * 1e6, "seconds": wall, "epochs": done, "foreign": foreign}


def timed_quiet(epoch: Epoch, n: int, device: torch.device, a: argparse.Namespace) -> dict:
    """A timing, taken again (up to --retries times, after a pause) while other processes used more
    than --max-foreign cores during it: the least disturbed attempt is kept."""
    best = timed(epoch, n, device, a.seconds)
    for _ in range(a.retries):
        if best["foreign"] <= a.max_foreign:
            break
        time.sleep(0.5)
        best = min(best, timed(epoch, n, device, a.seconds), key=lambda r: r["foreign"])
    return best


def measure(name: str, data: tuple, bs: int, device: torch.device, a: argparse.Namespace) -> list[dict]:
    """One warm-up epoch of each contender, then --repeats alternating rounds; medians per contender."""
    runs, n = contenders(name, data, bs, device, a.workers), len(data[2])
    first = {c: timed(epoch, n, device, 0.0)["seconds"] for c, epoch in runs.items()}
    got: dict[str, list[dict]] = {c: [] for c in runs}
    for _ in range(a.repeats):
        for c, epoch in runs.items():
            got[c].append(timed_quiet(epoch, n, device, a))
    label = f"{name} {n}x{'x'.join(map(str, data[0].shape[1:]))}"
    return [{"data": label, "batch": bs, "contender": c, "first_ms": first[c] * 1e3} | summary(rs)
            for c, rs in got.items()]


def summary(timings: list[dict]) -> dict:
    us = [t["us"] for t in timings]
    return {"us": statistics.median(us), "lo": min(us), "hi": max(us),
            "epochs": statistics.median(t["epochs"] for t in timings), "foreign": max(t["foreign"] for t in timings)}


# --- report ---------------------------------------------------------------------------------------

def timing_table(rows: list[dict]) -> str:
    lines = ["| data | batch | contender | epochs per timing (median) | µs per batch (median) | min-max µs "
             "| first epoch ms (warm-up) | other processes' CPU (cores, max) |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['data']} | {r['batch']} | {r['contender']} | {r['epochs']:g} | {r['us']:.1f} "
              f"| {r['lo']:.1f}-{r['hi']:.1f} | {r['first_ms']:.1f} | {r['foreign']:.2f} |" for r in rows]
    return "\n".join(lines)


def ratio_table(rows: list[dict]) -> str:
    """Every DataLoader against every resident variant of the same data and batch size."""
    lines = ["| data | batch | DataLoader | resident | DataLoader µs / resident µs | target >= 10x |",
             "|---|---|---|---|---|---|"]
    for d in (r for r in rows if r["contender"].startswith("DataLoader")):
        for r in rows:
            if r["contender"].startswith("resident") and (r["data"], r["batch"]) == (d["data"], d["batch"]):
                ratio = d["us"] / r["us"]
                lines.append(f"| {d['data']} | {d['batch']} | {d['contender'].split(' ', 1)[1]} "
                             f"| {r['contender'].split(' ', 1)[1]} | {ratio:.1f}x "
                             f"| {'met' if ratio >= TARGET else 'missed'} |")
    return "\n".join(lines)


def machine(device: torch.device) -> str:
    from dlcli.engine.env import cpu_model

    cpu = cpu_model()
    where = f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "cpu"
    return (f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
            f"device {where}, Python {platform.python_version()}, {platform.system()}")


def write_results(text: str, a: argparse.Namespace, mach: str) -> None:
    path = ROOT / "benchmarks" / "RESULTS.md"
    intro = ("" if HEADING in path.read_text() else
             f"\n{HEADING}\n\ndlcli keeps in-memory data as tensors on the training device and gathers each batch "
             "with a slice of a seeded permutation (dlcli/engine/loop.py `fit`). The baseline is what a typical "
             "script writes: `DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True)` over host tensors, with "
             "the default num_workers=0 and with persistent workers; on CUDA with pin_memory and non_blocking copies. "
             "Synthetic data shaped like digits (1797 x 1x8x8 float32) and CIFAR-10 (50,000 x 3x32x32, resident as "
             "uint8 and as float32; the loader gets the float32 tensor). µs per batch over whole epochs, reshuffle "
             "included; the consumer only counts samples, so only forming the batch is timed. "
             "Target: resident at least 10x faster.\n")
    with open(path, "a") as f:
        f.write(f"{intro}\n### Batching: device-resident vs DataLoader ({time.strftime('%Y-%m-%d')})\n\n"
                f"Machine: {mach}. Median of {a.repeats} alternating rounds, each after one warm-up epoch; "
                f"samples scale {a.samples_scale:g}.\n\n{text}\n")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--workers", type=int, default=2, help="the second DataLoader's num_workers (0: leave it out)")
    p.add_argument("--seconds", type=float, default=0.3, help="least wall time of one timing (whole epochs are added)")
    p.add_argument("--max-foreign", type=float, default=0.1,
                   help="CPU (cores) other processes may use during a timing before it is taken again")
    p.add_argument("--retries", type=int, default=2)
    p.add_argument("--samples-scale", type=float, default=1.0, help="fraction of each dataset's samples to use")
    p.add_argument("--write", action="store_true")
    return p.parse_args()


def main() -> None:
    a = parse()
    name = "cuda" if a.device == "auto" and torch.cuda.is_available() else a.device.replace("auto", "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch sees no CUDA device here")
    device, rows = torch.device(name), []
    for data_name in DATASETS:
        data = make_data(data_name, a.samples_scale)
        for bs in BATCHES:
            rows += measure(data_name, data, bs, device, a)
            gc.collect()  # the finished loader's persistent workers exit before the next loader starts its own
    text = f"{timing_table(rows)}\n\n{ratio_table(rows)}"
    mach = machine(device)
    print(text)
    print(f"machine: {mach}; median of {a.repeats} alternating rounds")
    if a.write:
        write_results(text, a, mach)


if __name__ == "__main__":
    main()
