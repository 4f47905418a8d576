"""What the training-throughput benchmarks (airbench.py, mfu.py) share: `dlcli train` in a fresh
process, the steady-state rate from its metrics.jsonl, other processes' load, the machine line."""
from __future__ import annotations

from _machine import busy_seconds  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent


def pick_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: CUDA is not available here")
    return name


def parser(epochs: int) -> argparse.ArgumentParser:
    """The options airbench.py and mfu.py share; `parse` finishes them."""
    p = argparse.ArgumentParser()
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--samples", type=int, default=50000)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    # bf16 is what the benchmarks measure (tensor cores); fp32 keeps a CPU smoke run quick where the CPU
    # has no bf16 instructions (AVX2 only: bf16 convolutions are about 6x slower there than fp32)
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    p.add_argument("--write", action="store_true")
    return p


def parse(p: argparse.ArgumentParser) -> argparse.Namespace:
    a = p.parse_args()
    a.device = pick_device(a.device)
    a.compile = a.device == "cuda" if a.compile is None else a.compile  # compiling pays off on a GPU
    return a


def dlcli_train(recipe: str, sets: list[str], runs: Path) -> tuple[dict, list[dict]]:
    """(run.json record, metrics.jsonl lines) of one `dlcli train --json`, as a user runs it."""
    args = [a for s in sets for a in ("--set", s)]
    done = subprocess.run([sys.executable, "-m", "dlcli", "train", recipe, *args, "--runs-dir", str(runs), "--json"],
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"dlcli train {recipe} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    record = json.loads(done.stdout)
    lines = (Path(record["run"]) / "metrics.jsonl").read_text().splitlines()
    return record, [json.loads(line) for line in lines]


def steady_rate(rates: list[float]) -> float:
    """Samples/s over the epochs after the first (compile, cuDNN autotuning and allocator warm-up
    land there): every epoch has the same samples, so the overall rate is the harmonic mean."""
    steady = rates[1:] or rates
    return len(steady) / sum(1.0 / r for r in steady)


@contextlib.contextmanager
def foreign_cores(out: dict) -> Iterator[None]:
    """out["cores"]: CPU cores that other processes kept busy while the block ran (this process
    and the children it waited for are left out)."""
    busy, before = busy_seconds(), os.times()
    yield
    after = os.times()
    own = sum(after[:4]) - sum(before[:4])  # user + system, self and children
    wall = after.elapsed - before.elapsed
    out["cores"] = max(busy_seconds() - busy - own, 0.0) / max(wall, 1e-9)


def machine(device: str) -> str:
    import torch

    from dlcli.engine.env import cpu_model

    cpu = cpu_model()
    where = f"cuda ({torch.cuda.get_device_name()})" if device == "cuda" else "cpu"
    return (f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
            f"device {where}, Python {platform.python_version()}, {platform.system()}")
