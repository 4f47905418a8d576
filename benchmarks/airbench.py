"""airbench94 (Keller Jordan, 2024) trained by `dlcli train` against a tuned hand-written PyTorch loop.

dlcli trains benchmarks/airbench94.yaml in a fresh process, as a user runs it (`python -m dlcli
train benchmarks/airbench94.yaml --set train.compile=true --json`, compile only with --compile),
and its samples/s per epoch are read from the run's metrics.jsonl. The hand loop writes the same
network directly in torch.nn and does what a tuned script does: images from the same
SyntheticImages source, split to the same sizes, normalised once and kept on the device in bf16
(pre-padded, so a crop is one gather with the flip folded in), channels_last, bf16 autocast,
torch.compile (with --compile), fused SGD with Nesterov momentum, the same one-cycle schedule,
batch size, label smoothing and augmentation (flip, 2-pixel reflect-padded translate), no
per-step host syncs. Both report images/s over the epochs after the first (compilation and
warm-up land there) and the last epoch's val accuracy; the runs alternate (dlcli, hand, ...)
for --repeats rounds and the medians are compared. Target: dlcli >= 0.9x the hand loop.

    .venv/bin/python benchmarks/airbench.py [--device auto|cpu|cuda] [--samples 50000] [--epochs 10]
        [--repeats 3] [--compile | --no-compile] [--write]

--compile is on by default with CUDA, off on the CPU. CPU smoke run (under a minute on 2 cores):
    .venv/bin/python benchmarks/airbench.py --device cpu --samples 512 --epochs 2 --repeats 1 --no-compile
--write appends the table and the machine to benchmarks/RESULTS.md.
"""
from __future__ import annotations

from _machine import publish  # noqa: E402
from _training import ROOT, dlcli_train, foreign_cores, machine, parse, parser, steady_rate  # noqa: E402
import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(ROOT))

from dlcli.data.splits import split_sizes  # noqa: E402
from dlcli.data.synthetic import SyntheticImages  # noqa: E402
from dlcli.recipe.check import load_recipe  # noqa: E402

RECIPE = "benchmarks/airbench94.yaml"
TARGET = 0.9


def overrides(a: argparse.Namespace) -> list[str]:
    # channels_last like the hand loop: dlcli's default on CUDA, asked for on the CPU, where dlcli
    # leaves it off because small images (digits' 8x8) lose with it
    return [f"vars.samples={a.samples}", f"vars.epochs={a.epochs}", f"train.device={a.device}",
            "train.channels_last=true", f"train.precision={a.precision}"]


def run_dlcli(a: argparse.Namespace) -> tuple[float, float, float]:
    """(images/s after the first epoch, last val accuracy, other processes' cores) of one dlcli run."""
    load: dict = {}
    with tempfile.TemporaryDirectory() as runs, foreign_cores(load):
        _, epochs = dlcli_train(RECIPE, overrides(a) + (["train.compile=true"] if a.compile else []), Path(runs))
    return steady_rate([e["samples_per_s"] for e in epochs]), epochs[-1]["val.accuracy"], load["cores"]


# --- the hand-written loop -----------------------------------------------------------------------

def conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    """airbench's block: conv, pool, bn, gelu, conv, bn, gelu (convs without bias before bn)."""
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(c_out), nn.GELU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.GELU()]


def airbench94(classes: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 24, 2), nn.GELU(),  # (B, 24, 31, 31)
        *conv_block(24, 64), *conv_block(64, 256), *conv_block(256, 256),  # (B, 256, 3, 3)
        nn.MaxPool2d(3), nn.Flatten(), nn.Linear(256, classes, bias=False))  # (B, classes)


def device_data(doc: dict, device: torch.device, dtype: torch.dtype, pad: int) -> dict:
    """Train and val images on the device: normalised with the train statistics, in `dtype`,
    channels_last; train reflect-padded by `pad` once, so each epoch only gathers crops."""
    source = SyntheticImages()
    data = source.load(source.Args(**{k: v for k, v in doc["data"]["source"].items() if k != "type"}), None)
    s = doc["data"]["split"]
    n_train, n_val, _ = split_sizes(len(data), s["train"], s["val"], s["test"])
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(doc["seed"]))
    x = torch.as_tensor(data.x, device=device)[order.to(device)].float()  # uint8 crosses, float on the device
    y = torch.as_tensor(data.y, device=device)[order.to(device)]
    mean, std = x[:n_train].mean((0, 2, 3), keepdim=True), x[:n_train].std((0, 2, 3), keepdim=True)
    x = ((x - mean) / std).to(dtype)
    train = F.pad(x[:n_train], (pad,) * 4, mode="reflect") if pad else x[:n_train]
    last = torch.channels_last
    return {"train": (train.contiguous(memory_format=last), y[:n_train]), "classes": len(data.info.classes),
            "val": (x[n_train:n_train + n_val].contiguous(memory_format=last), y[n_train:n_train + n_val])}


def crops(padded: torch.Tensor, idx: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """A random translate (up to `pad` pixels) and horizontal flip of images `idx`, in one gather."""
    b, (h, w), dev = len(idx), (padded.shape[-2] - 2 * pad, padded.shape[-1] - 2 * pad), padded.device
    dy, dx = torch.randint(0, 2 * pad + 1, (2, b), device=dev, generator=gen)
    rows = dy[:, None] + torch.arange(h, device=dev)  # (B, H)
    cols = dx[:, None] + torch.arange(w, device=dev)  # (B, W)
    flip = torch.rand(b, device=dev, generator=gen) < 0.5
    cols = torch.where(flip[:, None], cols.flip(1), cols)  # reading columns backwards mirrors the image
    out = padded[idx[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)  # (B, C, H, W), channels_last in memory


def amp(device: torch.device, precision: str):
    """bf16 autocast, as airbench trains, or plain fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def sync(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def train_epoch(net: nn.Module, opt, sched, data: dict, t: dict, pad: int, gen: torch.Generator, precision: str) -> float:
    """One epoch; returns its images/s."""
    (x, y), bs, smoothing = data["train"], t["batch_size"], t["loss"]["label_smoothing"]
    net.train()
    started = sync(x.device)
    perm = torch.randperm(len(y), device=x.device, generator=gen)
    for i in range(0, len(y), bs):
        idx = perm[i:i + bs]
        with amp(x.device, precision):
            loss = F.cross_entropy(net(crops(x, idx, pad, gen)), y[idx], label_smoothing=smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return len(y) / (sync(x.device) - started)


def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, precision: str) -> float:
    net.eval()
    with torch.no_grad(), amp(x.device, precision):
        hits = sum((net(x[i:i + 2048]).argmax(1) == y[i:i + 2048]).sum() for i in range(0, len(y), 2048))
    return float(hits) / len(y)


def hand_loop(doc: dict, device: torch.device, compiled: bool, precision: str) -> tuple[list[float], float]:
    """(images/s of each epoch, last val accuracy) of the hand-written loop."""
    t = doc["train"]
    pad = next(item["random_crop"]["padding"] for item in doc["data"]["augment"] if "random_crop" in item)
    torch.manual_seed(doc["seed"])
    gen = torch.Generator(device).manual_seed(doc["seed"])
    data = device_data(doc, device, torch.bfloat16 if precision == "bf16" else torch.float32, pad)
    net = airbench94(data["classes"]).to(device, memory_format=torch.channels_last)
    step_net = torch.compile(net) if compiled else net
    hyper = {k: v for k, v in t["optimizer"].items() if k != "name"}
    opt = torch.optim.SGD(net.parameters(), **hyper, fused=device.type == "cuda")
    steps = -(-len(data["train"][1]) // t["batch_size"]) * t["epochs"]
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=hyper["lr"], total_steps=steps,
                                                pct_start=t["schedule"]["pct_start"])
    rates = [train_epoch(step_net, opt, sched, data, t, pad, gen, precision) for _ in range(t["epochs"])]
    return rates, accuracy(net, *data["val"], precision)


def run_hand(a: argparse.Namespace, doc: dict) -> tuple[float, float, float]:
    load: dict = {}
    with foreign_cores(load):
        rates, acc = hand_loop(doc, torch.device(a.device), a.compile, a.precision)
    return steady_rate(rates), acc, load["cores"]


# --- the comparison ------------------------------------------------------------------------------

def table(runs: dict) -> list[str]:
    rows = ["| contender | images/s (epochs 2..) | val accuracy (last epoch) | other processes' CPU (cores) |",
            "|---|---|---|---|"]
    for name, results in runs.items():
        rate, acc, cores = (statistics.median(r[k] for r in results) for k in range(3))
        rows.append(f"| {name} | {rate:,.0f} | {acc:.4f} | {cores:.2f} |")
    ours, hand = (statistics.median(r[0] for r in results) for results in runs.values())
    verdict = "met" if ours / hand >= TARGET else "not met"
    return rows + ["", f"dlcli / hand loop: {ours / hand:.3f}x (target >= {TARGET}x: {verdict})."]


def arguments() -> argparse.Namespace:
    p = parser(epochs=10)
    p.add_argument("--repeats", type=int, default=3)
    return parse(p)


def main() -> None:
    a = arguments()
    doc = load_recipe(ROOT / RECIPE, overrides(a)).doc
    runs: dict = {"dlcli train": [], "hand-written PyTorch loop": []}
    for _ in range(a.repeats):
        runs["dlcli train"].append(run_dlcli(a))
        runs["hand-written PyTorch loop"].append(run_hand(a, doc))
    n_train = split_sizes(a.samples, *(doc["data"]["split"][k] for k in ("train", "val", "test")))[0]
    lines = [f"### airbench94: dlcli train vs a hand-written loop ({date.today()})", "",
             f"Machine: {machine(a.device)}. {a.samples} synthetic 3x32x32 images ({n_train} train), {a.epochs} epochs, "
             f"batch {doc['train']['batch_size']}, {a.precision}, torch.compile {'on' if a.compile else 'off'}; median of "
             f"{a.repeats} alternating runs.", "", *table(runs), ""]
    publish(lines, a.write)


if __name__ == "__main__":
    main()
