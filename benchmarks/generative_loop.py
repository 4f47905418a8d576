"""`dlcli train` of a VAE and a GAN against hand-written PyTorch loops doing the same work, side by side.

Same networks (built from the recipe, the task's heads included), data (the run's train split,
normalised the same way), batch size, epochs, optimizers and seed. Both sides evaluate the val
split once per epoch as the task does (the VAE: the ELBO and the importance-weighted NLL; the GAN:
both players' losses and the mode metrics on ring8), so the ratio is the cost of the engine: the
task protocol, callbacks, checkpoints and metrics file. Both write a resumable checkpoint each
epoch and evaluate every split at the end. Each run is a fresh process; runs come in pairs (the
side going first swaps each pair) and the ratio is the median of the pairs' ratios.

    .venv/bin/python benchmarks/generative_loop.py [--repeats 6] [--epochs 60 (0: the recipe's)] [--write]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._machine import publish  # noqa: E402
from benchmarks.train_loop import machine  # noqa: E402
from dlcli.engine.setup import build_fit  # noqa: E402
from dlcli.recipe.check import load_recipe  # noqa: E402
from dlcli.report.console import TrainReporter  # noqa: E402
from dlcli.workflows.train import run_training  # noqa: E402

RECIPES = {"digits-vae": 60, "ring8-gan": 60, "pydoc-gpt": 4}  # recipe -> epochs per run (--epochs overrides)


def overrides(epochs: Optional[int]) -> list[str]:
    """No epochs: the recipe's own (a whole shipped training run)."""
    return ([f"train.epochs={epochs}"] if epochs else []) + ["train.plots=false"]


def time_dlcli(recipe: Path, epochs: Optional[int]) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        run_training(recipe, None, overrides(epochs), Path(runs), TrainReporter(quiet=True))
        seconds = time.perf_counter() - start
        last = json.loads((Path(runs) / recipe.stem / "0001" / "metrics.jsonl").read_text().splitlines()[-1])
    return seconds, last["train.loss"]


def vae_epoch(fit, x, bs) -> torch.Tensor:
    """What an engineer writes for a VAE step: encode, reparameterise, decode, -ELBO, step."""
    from torch.nn import functional as F

    task, nets, opt = fit.task, fit.nets, fit.role(None).optimizer
    perm = torch.randperm(len(x), generator=fit.gen)
    total = torch.zeros(())
    for i in range(fit.steps_per_epoch):
        xb = x[perm[i * bs:(i + 1) * bs]]
        h = nets["encoder"](xb)
        mu, logvar = nets["heads"](h.reshape(len(h), -1))
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=fit.gen)
        logits = nets["decoder"](z).reshape(len(xb), -1)
        recon = F.binary_cross_entropy_with_logits(logits, xb.reshape(len(xb), -1), reduction="none").sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        beta = min(1.0, (fit.role(None).steps) / max(1, task.args.warmup * fit.steps_per_epoch)) * task.args.beta
        loss = (recon + beta * kl).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        fit.role(None).steps += 1
        total += loss.detach()
    return total / fit.steps_per_epoch


def gan_epoch(fit, x, bs) -> torch.Tensor:
    """What an engineer writes for a GAN step: a discriminator step on real and fake, a generator step."""
    from torch.nn import functional as F

    task, nets = fit.task, fit.nets
    perm = torch.randperm(len(x), generator=fit.gen)
    d_opt, g_opt = fit.roles["discriminator"].optimizer, fit.roles["generator"].optimizer
    total = torch.zeros(())
    for i in range(fit.steps_per_epoch):
        xb = x[perm[i * bs:(i + 1) * bs]]
        z = torch.randn((len(xb), task.args.latent), generator=fit.gen)
        fake = nets["generator"](z).reshape(xb.shape).detach()
        real_s = nets["extras"].head(nets["discriminator"](xb)).squeeze(1)
        fake_s = nets["extras"].head(nets["discriminator"](fake)).squeeze(1)
        d_loss = F.relu(1 - real_s).mean() + F.relu(1 + fake_s).mean()
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        z = torch.randn((len(xb), task.args.latent), generator=fit.gen)
        g_loss = -nets["extras"].head(nets["discriminator"](nets["generator"](z).reshape(xb.shape))).mean()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        total += (d_loss + g_loss).detach()
    return total / fit.steps_per_epoch


def lm_epoch(fit, x, bs) -> torch.Tensor:
    """nanoGPT's loop: random windows of the train stream, cross-entropy, clipped AdamW step, per-step cosine."""
    from torch.nn import functional as F

    ids, ctx, net, r = x.reshape(-1), fit.task.args.context, fit.nets["net"], fit.role(None)
    offsets, total = torch.arange(ctx + 1), torch.zeros(())
    for _ in range(fit.steps_per_epoch):
        w = ids[torch.randint(0, len(ids) - ctx, (bs,), generator=fit.gen)[:, None] + offsets]
        logits = net(w[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1))
        r.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(r.params, fit.grad_clip)
        r.optimizer.step()
        r.scheduler.step()
        total += loss.detach()
    return total / fit.steps_per_epoch


def hand_epoch(fit):
    return lm_epoch if "net" in fit.nets else vae_epoch if "encoder" in fit.nets else gan_epoch


def hand_loop(recipe: Path, epochs: Optional[int]) -> tuple[float, float]:
    """The loop, the task's own val evaluation each epoch, a resumable checkpoint each epoch (the
    weights and every optimizer's state, as PyTorch's checkpoint tutorial writes it), and the
    final metrics on every split, as `dlcli train` records them in run.json."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        fit = build_fit(load_recipe(recipe, overrides(epochs)))
        x, bs, epoch = fit.data.x["train"], fit.batch_size, hand_epoch(fit)
        for _ in range(fit.resolved.recipe.train.epochs):
            fit.model.train()
            loss = epoch(fit, x, bs)
            fit.task.evaluate("val", fit)
            torch.save({"model": fit.model.state_dict(),
                        **{role: r.optimizer.state_dict() for role, r in fit.roles.items()}}, Path(out) / "last.pt")
        for split in ("train", "val", "test"):
            fit.task.evaluate(split, fit)
        return time.perf_counter() - start, loss.item()


SIDES = {"dlcli": time_dlcli, "hand": hand_loop}


def one_run(side: str, recipe: Path, epochs: Optional[int]) -> tuple[float, float]:
    """One timed run in a fresh process (after a one-epoch warm-up there): a process's own luck
    (memory layout, which core it lands on) then averages out over the pairs instead of
    favouring one side for the whole benchmark."""
    import subprocess

    args = [sys.executable, __file__, "--one", side, "--recipe", str(recipe)] + (["--epochs", str(epochs)] if epochs else [])
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    seconds, loss = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, loss


def measure(recipe: Path, epochs: Optional[int], repeats: int) -> tuple:
    """Pairs of runs, the side going first swapping each pair; the ratio of each pair, so a machine
    whose speed drifts (a shared host) slows both sides of a pair alike."""
    ours, hand = [], []
    for i in range(repeats):
        for side in (("hand", "dlcli") if i % 2 else ("dlcli", "hand")):
            (ours if side == "dlcli" else hand).append(one_run(side, recipe, epochs))
    ratio = statistics.median(o / h for (o, _), (h, _) in zip(ours, hand))
    best = min(t for t, _ in ours) / min(t for t, _ in hand)
    return statistics.median(t for t, _ in ours), statistics.median(t for t, _ in hand), ratio, best, ours[0][1], hand[0][1]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=6, help="pairs of runs")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default: 60, 4 for pydoc-gpt; 0: each recipe's own)")
    p.add_argument("--only", nargs="*", default=list(RECIPES), help="the recipes to run")
    p.add_argument("--write", action="store_true")
    p.add_argument("--one", choices=sorted(SIDES), help=argparse.SUPPRESS)
    p.add_argument("--recipe", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        SIDES[a.one](a.recipe, 1)
        print(json.dumps(SIDES[a.one](a.recipe, a.epochs)))
        return
    rows = [(name, *measure(ROOT / "recipes" / f"{name}.yaml", RECIPES[name] if a.epochs is None else a.epochs, a.repeats))
            for name in a.only]
    table = ["| recipe | dlcli train (s) | hand loop (s) | ratio (median of pairs) | ratio of fastest runs | "
             "final train.loss dlcli | hand |", "|---|---|---|---|---|---|---|"]
    table += [f"| {r[0]} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:.3f}x | {r[4]:.3f}x | {r[5]:.6f} | {r[6]:.6f} |" for r in rows]
    length = f"{a.epochs} epochs" if a.epochs else "each recipe as shipped" if a.epochs == 0 else \
        ", ".join(f"{name} {RECIPES[name]} epochs" for name in a.only)
    publish([f"### {', '.join(a.only)}: dlcli train vs hand-written loops ({time.strftime('%Y-%m-%d')})", "",
             f"Machine: {machine()}. {length}, {a.repeats} pairs of runs, each run in a fresh process (medians; the "
             "side going first swaps each pair); both sides evaluate val every epoch with the task's metrics, write a "
             "resumable checkpoint every epoch and evaluate every split at the end.", "", *table, ""], a.write)


if __name__ == "__main__":
    main()
