"""`dlcli train` against a hand-written PyTorch loop doing the same work, side by side.

Same model (built from the recipe), data (the run's train split, normalised the same way), batch
size, epochs, optimizer, schedule and seed; augmentation and early stopping off. Both sides
evaluate the validation split once per epoch, keep the best weights and score the test split at
the end, as any real training script does. The runs alternate
(dlcli, hand, dlcli, hand, ...) so machine noise hits both; the median of each is compared.

    .venv/bin/python benchmarks/train_loop.py [--repeats 5] [--epochs 10] [--write]

--write appends the table and the machine to benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dlcli.engine.setup import build_fit  # noqa: E402
from dlcli.workflows.train import run_training  # noqa: E402
from dlcli.recipe.check import load_recipe  # noqa: E402
from dlcli.report.console import TrainReporter  # noqa: E402

RECIPES = ["digits-mlp", "digits-cnn"]


def overrides(epochs: int) -> list[str]:
    # no pictures: the hand loop draws none (they cost about 0.7 s per run, after training)
    return ["data.augment=[]", "train.early_stopping=null", f"train.epochs={epochs}", "train.plots=false"]


def time_dlcli(recipe: Path, epochs: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        run_training(recipe, None, overrides(epochs), Path(runs), TrainReporter(quiet=True))
        seconds = time.perf_counter() - start
        last = (Path(runs) / recipe.stem / "0001" / "metrics.jsonl").read_text().splitlines()[-1]
    import json

    return seconds, json.loads(last)["train.loss"]


def hand_loop(recipe: Path, epochs: int, resumable: bool = False) -> tuple[float, float]:
    """What an engineer would write by hand: the loop, one val pass per epoch, the best weights
    saved, the test split scored at the end; `resumable` also saves model + optimizer + schedule
    every epoch, the work dlcli does so that any run can be resumed."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        loss = _hand_loop(recipe, epochs, Path(out), resumable)
        return time.perf_counter() - start, loss


def _hand_loop(recipe: Path, epochs: int, out: Path, resumable: bool) -> float:
    resolved = load_recipe(recipe, overrides(epochs))
    s = build_fit(resolved)  # the same seeded model, device tensors, optimizer and schedule
    role = s.role(None)
    net, opt, sched, gen = s.nets["net"], role.optimizer, role.scheduler, s.gen
    x, y = s.data.x["train"], s.data.y["train"]
    xv, yv = s.data.x["val"], s.data.y["val"]
    best = -1.0
    loss_spec = resolved.recipe.train.loss
    smoothing = loss_spec.get("label_smoothing", 0.0) if isinstance(loss_spec, dict) else 0.0
    n, bs = len(x), resolved.recipe.train.batch_size
    steps = -(-n // bs) if n % bs != 1 else n // bs
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(n, generator=gen)
        total = torch.zeros(())
        for i in range(steps):
            idx = perm[i * bs:(i + 1) * bs]
            loss = F.cross_entropy(net(x[idx]), y[idx], label_smoothing=smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if role.schedule.per_step:
                sched.step()
            total += loss.detach()
        if not role.schedule.per_step:
            sched.step()
        net.eval()
        with torch.no_grad():
            accuracy = (net(xv).argmax(1) == yv).float().mean().item()
        if accuracy > best:
            best = accuracy
            torch.save(net.state_dict(), out / "best.pt")
        if resumable:
            torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "schedule": sched.state_dict(),
                        "rng": torch.get_rng_state(), "generator": gen.get_state()}, out / "last.pt")
    net.load_state_dict(torch.load(out / "best.pt", weights_only=True))
    with torch.no_grad():
        (net(s.data.x["test"]).argmax(1) == s.data.y["test"]).float().mean().item()
    return (total / steps).item()


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {platform.system()}"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--write", action="store_true")
    a = p.parse_args()
    rows = []
    for name in RECIPES:
        recipe = ROOT / "recipes" / f"{name}.yaml"
        time_dlcli(recipe, 1), hand_loop(recipe, 1)  # warm-up: imports, allocator, sklearn caches
        ours, bare, resumable = [], [], []
        for _ in range(a.repeats):
            ours.append(time_dlcli(recipe, a.epochs))
            bare.append(hand_loop(recipe, a.epochs))
            resumable.append(hand_loop(recipe, a.epochs, resumable=True))
        t_ours, t_bare, t_res = (statistics.median(t for t, _ in runs) for runs in (ours, bare, resumable))
        rows.append((name, t_ours, t_bare, t_ours / t_bare, t_res, t_ours / t_res, ours[0][1], bare[0][1]))
    table = ["| recipe | dlcli train (s) | hand loop (s) | ratio | hand + resumable checkpoint (s) | ratio "
             "| final loss dlcli | final loss hand |", "|---|---|---|---|---|---|---|---|"]
    table += [f"| {r[0]} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:.3f}x | {r[4]:.3f} | {r[5]:.3f}x | {r[6]:.6f} | {r[7]:.6f} |"
              for r in rows]
    text = "\n".join(table)
    print(text)
    print(f"machine: {machine()}; {a.epochs} epochs, median of {a.repeats}")
    if a.write:
        with open(ROOT / "benchmarks" / "RESULTS.md", "a") as f:
            f.write(f"\n### train loop vs hand-written loop ({time.strftime('%Y-%m-%d')})\n\n"
                    f"Machine: {machine()}. {a.epochs} epochs, augmentation and early stopping off, "
                    f"median of {a.repeats} alternating runs.\n\n{text}\n")


if __name__ == "__main__":
    main()
