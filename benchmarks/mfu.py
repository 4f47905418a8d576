"""Model FLOPs utilisation (MFU) of `dlcli train` on a compute-bound ResNet (benchmarks/resnet-mfu.yaml).

dlcli trains the recipe in a fresh process, as a user runs it (`python -m dlcli train
benchmarks/resnet-mfu.yaml --json`, with `--set train.compile=true` under --compile), and its
samples/s over the epochs after the first (compilation and warm-up land in the first) are read
from the run's metrics.jsonl. Independently of dlcli's own accounting, this script counts the
training FLOPs per sample with torch.utils.flop_counter.FlopCounterMode: one forward and backward
pass (matmuls and convolutions; the elementwise work is not counted, as usual for MFU) of the
network dlcli builds from the same resolved recipe. MFU = FLOPs per sample x samples/s / the
device's dense bf16 peak. Where the run recorded them, dlcli's own `flops_per_sample` (run.json)
and per-epoch `mfu` (metrics.jsonl) are shown beside. Target on a GPU: MFU >= 35%. The CPU has
no tensor-core peak: there the achieved GFLOP/s are printed and MFU is left out.

    .venv/bin/python benchmarks/mfu.py [--device auto|cpu|cuda] [--samples 50000] [--epochs 4]
        [--width 128] [--depth 14] [--compile | --no-compile] [--write]

--compile is on by default with CUDA, off on the CPU. CPU smoke run (under a minute on 2 cores):
    .venv/bin/python benchmarks/mfu.py --device cpu --samples 256 --epochs 2 --width 8 --depth 8 --no-compile
--write appends the table and the machine to benchmarks/RESULTS.md.
"""
from __future__ import annotations

from _machine import publish  # noqa: E402
from _training import ROOT, dlcli_train, foreign_cores, machine, parse, parser, steady_rate  # noqa: E402
import argparse
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any, Optional

import torch
from torch.nn import functional as F

sys.path.insert(0, str(ROOT))

from dlcli.recipe.check import load_recipe  # noqa: E402

RECIPE = "benchmarks/resnet-mfu.yaml"
TARGET = 0.35


def bf16_peak(device: str) -> Optional[tuple[str, float]]:
    """(device name, dense bf16 peak) from dlcli's own table, the one its `mfu` uses; None off CUDA."""
    from dlcli.engine.throughput import bf16_peak as peak_of

    if device != "cuda":
        return None
    peak = peak_of(torch.device("cuda"))
    return (torch.cuda.get_device_name(), peak) if peak else None


def counted_flops(resolved: Any, batch: int = 2) -> float:
    """Training FLOPs per sample: FlopCounterMode over one forward + backward of the network
    dlcli builds for the recipe, on the meta device: the count needs shapes, not values."""
    from torch.utils.flop_counter import FlopCounterMode

    from dlcli.nn.model import build_model

    with torch.device("meta"):
        net = build_model(resolved.plan).train()
        x = torch.randn(batch, *resolved.info.input_shape)
        y = torch.zeros(batch, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(net(x), y).backward()
    return counter.get_total_flops() / batch


def overrides(a: argparse.Namespace) -> list[str]:
    sets = [f"vars.samples={a.samples}", f"vars.epochs={a.epochs}", f"vars.width={a.width}", f"vars.depth={a.depth}"]
    return sets + [f"train.device={a.device}", f"train.precision={a.precision}"]


def measure(a: argparse.Namespace, resolved: Any) -> dict:
    """One dlcli run, and what this script and dlcli each make of it."""
    load: dict = {}
    with tempfile.TemporaryDirectory() as runs, foreign_cores(load):
        record, epochs = dlcli_train(RECIPE, overrides(a) + (["train.compile=true"] if a.compile else []), Path(runs))
    mfus = [e["mfu"] for e in epochs if e.get("mfu")]
    return {"rate": steady_rate([e["samples_per_s"] for e in epochs]), "flops": counted_flops(resolved),
            "dlcli_flops": (record.get("throughput") or {}).get("flops_per_sample"),
            "dlcli_mfu": steady_rate(mfus) if len(mfus) == len(epochs) else None,
            "params": record.get("parameters"), "train": record["splits"]["train"], "cores": load["cores"]}


def rows(m: dict, peak: Optional[tuple[str, float]]) -> list[str]:
    achieved = m["flops"] * m["rate"]
    out = ["| quantity | value |", "|---|---|",
           f"| training FLOPs per sample (FlopCounterMode, forward + backward) | {m['flops'] / 1e9:.3f} GFLOP |"]
    if m["dlcli_flops"]:
        out.append(f"| dlcli's flops_per_sample (run.json) | {m['dlcli_flops'] / 1e9:.3f} GFLOP |")
    out += [f"| samples/s (epochs 2..) | {m['rate']:,.1f} |", f"| achieved | {achieved / 1e9:,.1f} GFLOP/s |"]
    if peak is None:
        return out + ["| MFU | CUDA only: no bf16 tensor-core peak is known for this device |"]
    verdict = "met" if achieved / peak[1] >= TARGET else "not met"
    out += [f"| bf16 dense peak ({peak[0]}) | {peak[1] / 1e12:,.0f} TFLOP/s |",
            f"| MFU | {achieved / peak[1]:.1%} (target >= {TARGET:.0%}: {verdict}) |"]
    if m["dlcli_mfu"]:
        out.append(f"| dlcli's mfu (metrics.jsonl, epochs 2..) | {m['dlcli_mfu']:.1%} |")
    return out


def arguments() -> argparse.Namespace:
    p = parser(epochs=4)
    p.add_argument("--width", type=int, default=128, help="channels of the first stage (then 2x, 4x)")
    p.add_argument("--depth", type=int, default=14, help="6n+2 weighted layers")
    return parse(p)


def main() -> None:
    a = arguments()
    resolved = load_recipe(ROOT / RECIPE, overrides(a))
    m = measure(a, resolved)
    lines = [f"### Model FLOPs utilisation: {RECIPE} ({date.today()})", "",
             f"Machine: {machine(a.device)}. ResNet depth {a.depth}, width {a.width} ({m['params']:,} parameters); "
             f"{a.samples} synthetic 3x32x32 images ({m['train']} train), {a.epochs} epochs, "
             f"batch {resolved.recipe.train.batch_size}, {a.precision}, torch.compile {'on' if a.compile else 'off'}; "
             f"other processes used {m['cores']:.2f} cores.", "",
             *rows(m, bf16_peak(a.device)), ""]
    publish(lines, a.write)


if __name__ == "__main__":
    main()
