"""Training beside other work: digits-cnn with dlcli's OpenMP setting, libgomp's own and one thread.

Two scenarios, one after the other: an idle machine, and beside a neighbour that keeps allocating
memory (a Python loop building and freeing 2000 1-MB buffers, as a data-loading job does). In each,
alternating, median of --repeats, the training seconds of `dlcli train recipes/digits-cnn.yaml`
(3 epochs; run.json's train_seconds, start-up excluded) with:
- dlcli: what a user gets (dlcli asks OpenMP for passive waiting when other processes kept half a
  core or more busy while it started, dlcli/runtime.py; otherwise libgomp's default);
- spinning waits: GOMP_SPINCOUNT=300000, libgomp's default, i.e. dlcli before this setting;
- train.threads: 1 beside the same neighbour, the reference the target is against.
Targets: beside the neighbour, dlcli at most 1.5x `train.threads: 1`; idle, no slower than the
spinning waits.

    .venv/bin/python benchmarks/busy_machine.py [--repeats 5] [--epochs 3] [--write]
"""
from __future__ import annotations

from _machine import publish, timed_process  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
RECIPE = "recipes/digits-cnn.yaml"
NEIGHBOUR = "while True:\n    buffers = [bytearray(1 << 20) for _ in range(2000)]\n    del buffers\n"
WAIT_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
CONFIGS = {"dlcli": ({}, []), "spinning waits (GOMP_SPINCOUNT=300000)": ({"GOMP_SPINCOUNT": "300000"}, []),
           "train.threads: 1": ({}, ["train.threads=1"])}


@contextlib.contextmanager
def neighbour(active: bool) -> Iterator[None]:
    """A process that allocates and frees memory in a loop for as long as the block runs."""
    proc = subprocess.Popen([sys.executable, "-c", NEIGHBOUR]) if active else None
    try:
        yield
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


def train_seconds(env_extra: dict, sets: list[str], epochs: int, runs: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k not in WAIT_SETTINGS} | env_extra
    args = [sys.executable, "-m", "dlcli", "train", RECIPE, "--set", f"train.epochs={epochs}",
            "--set", "train.early_stopping=null", "--runs-dir", str(runs), "--json"]
    for s in sets:
        args += ["--set", s]
    _, _, out = timed_process(args, ROOT, env)
    return float(json.loads(out)["train_seconds"])


def scenario(busy: bool, repeats: int, epochs: int, runs: Path) -> dict[str, float]:
    times: dict = {name: [] for name in CONFIGS}
    with neighbour(busy):
        for _ in range(repeats):
            for name, (env, sets) in CONFIGS.items():
                times[name].append(train_seconds(env, sets, epochs, runs))
    return {name: statistics.median(t) for name, t in times.items()}


def table(results: dict[str, dict[str, float]], repeats: int, epochs: int) -> list[str]:
    import torch

    lines = [f"### training beside other work: {RECIPE}, {epochs} epochs ({date.today()})", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
             f"({torch.get_num_threads()} threads by default), Python {platform.python_version()}. Training seconds "
             f"from run.json (start-up excluded), median of {repeats} alternating runs.", "",
             "| machine | " + " | ".join(CONFIGS) + " | dlcli / threads 1 | dlcli / spinning |",
             "|---" * (len(CONFIGS) + 3) + "|"]
    for where, t in results.items():
        ours, one, spin = t["dlcli"], t["train.threads: 1"], t["spinning waits (GOMP_SPINCOUNT=300000)"]
        cells = " | ".join(f"{t[name]:.2f}" for name in CONFIGS)
        lines.append(f"| {where} | {cells} | {ours / one:.2f}x | {ours / spin:.2f}x |")
    return lines + ["", "Targets: beside the neighbour dlcli / threads 1 <= 1.5x; idle dlcli / spinning <= 1.0x "
                    "(within this machine's noise).", ""]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--write", action="store_true")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {where: scenario(where != "idle", a.repeats, a.epochs, Path(tmp))
                   for where in ("idle", "beside a memory-allocating neighbour")}
    publish(table(results, a.repeats, a.epochs), a.write)


if __name__ == "__main__":
    main()
