"""The grad_flow callback's cost: training with it (at its default interval, every 10 steps) against
the same recipe without it, side by side.

Each run is `dlcli train` in a fresh process; its time is the sum of the epochs' own `seconds` in
metrics.jsonl after the first (warm-up) epoch, so process start and final evaluation do not dilute
the overhead. Runs go in pairs, the side going first swapping each pair; the ratio is the median
of the pairs' ratios. Target: <= 1.05x.

    python benchmarks/grad_flow.py [--repeats 5] [--epochs 6] [--write]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _machine import publish  # noqa: E402
from _training import dlcli_train, machine  # noqa: E402

RECIPES = ["digits-cnn", "flow-relu-he"]


def train_seconds(recipe: str, epochs: int, flow: bool) -> float:
    sets = [f"train.epochs={epochs}", "train.plots=false", "train.early_stopping=null",
            "train.callbacks=[grad_flow]" if flow else "train.callbacks=[]"]
    with tempfile.TemporaryDirectory() as runs:
        _, lines = dlcli_train(f"recipes/{recipe}.yaml", sets, Path(runs))
    return sum(line["seconds"] for line in lines[1:])


def measure(recipe: str, epochs: int, repeats: int) -> tuple[float, float, float]:
    """(median seconds with, without, median ratio of the pairs)."""
    on, off = [], []
    for i in range(repeats):
        for flow in ((False, True) if i % 2 else (True, False)):
            (on if flow else off).append(train_seconds(recipe, epochs, flow))
    return statistics.median(on), statistics.median(off), statistics.median(a / b for a, b in zip(on, off))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5, help="pairs of runs")
    p.add_argument("--epochs", type=int, default=6, help="epochs per run (the first is warm-up, not counted)")
    p.add_argument("--only", nargs="*", default=RECIPES)
    p.add_argument("--write", action="store_true")
    a = p.parse_args()
    rows = [(name, *measure(name, a.epochs, a.repeats)) for name in a.only]
    table = ["| recipe | with grad_flow (s) | without (s) | ratio (median of pairs) |", "|---|---|---|---|"]
    table += [f"| {r[0]} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:.3f}x |" for r in rows]
    publish([f"### grad_flow overhead at its default interval ({time.strftime('%Y-%m-%d')})", "",
             f"Machine: {machine('cpu')}. {a.epochs} epochs per run, epochs 2-{a.epochs} timed (metrics.jsonl "
             f"`seconds`), {a.repeats} pairs of fresh `dlcli train` processes, the side going first swapping each "
             "pair. Target: <= 1.05x.", "", *table, ""], a.write)


if __name__ == "__main__":
    main()
