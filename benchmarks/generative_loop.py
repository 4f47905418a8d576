"""`dlcli train` of a VAE and a GAN against hand-written PyTorch loops doing the same work, side by side.

Same networks (built from the recipe, the task's heads included), data (the run's train split,
normalised the same way), batch size, epochs, optimizers and seed. Both sides evaluate the val
split once per epoch as the task does (the VAE: the ELBO and the importance-weighted NLL; the GAN:
both players' losses and the mode metrics on ring8), so the ratio is the cost of the engine: the
task protocol, callbacks, checkpoints and metrics file. Runs alternate (dlcli, hand, ...) and the
medians are compared.

    .venv/bin/python benchmarks/generative_loop.py [--repeats 5] [--epochs 10] [--write]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._machine import publish  # noqa: E402
from benchmarks.train_loop import machine  # noqa: E402
from dlcli.engine.setup import build_fit  # noqa: E402
from dlcli.recipe.check import load_recipe  # noqa: E402
from dlcli.report.console import TrainReporter  # noqa: E402
from dlcli.workflows.train import run_training  # noqa: E402

RECIPES = ["digits-vae", "ring8-gan"]


def overrides(epochs: int) -> list[str]:
    return [f"train.epochs={epochs}", "train.plots=false"]


def time_dlcli(recipe: Path, epochs: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        run_training(recipe, None, overrides(epochs), Path(runs), TrainReporter(quiet=True))
        seconds = time.perf_counter() - start
        last = json.loads((Path(runs) / recipe.stem / "0001" / "metrics.jsonl").read_text().splitlines()[-1])
    return seconds, last["train.loss"]


def vae_epoch(fit, perm, x, bs) -> torch.Tensor:
    """What an engineer writes for a VAE step: encode, reparameterise, decode, -ELBO, step."""
    from torch.nn import functional as F

    task, nets, opt = fit.task, fit.nets, fit.role(None).optimizer
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


def gan_epoch(fit, perm, x, bs) -> torch.Tensor:
    """What an engineer writes for a GAN step: a discriminator step on real and fake, a generator step."""
    from torch.nn import functional as F

    task, nets = fit.task, fit.nets
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


def hand_loop(recipe: Path, epochs: int) -> tuple[float, float]:
    """The loop, the task's own val evaluation each epoch, the model saved each epoch."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        fit = build_fit(load_recipe(recipe, overrides(epochs)))
        x, bs = fit.data.x["train"], fit.batch_size
        epoch = vae_epoch if "encoder" in fit.nets else gan_epoch
        for _ in range(epochs):
            fit.model.train()
            loss = epoch(fit, torch.randperm(len(x), generator=fit.gen), x, bs)
            fit.task.evaluate("val", fit)
            torch.save(fit.model.state_dict(), Path(out) / "last.pt")
        fit.task.evaluate("test", fit)
        return time.perf_counter() - start, loss.item()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--write", action="store_true")
    a = p.parse_args()
    rows = []
    for name in RECIPES:
        recipe = ROOT / "recipes" / f"{name}.yaml"
        time_dlcli(recipe, 1), hand_loop(recipe, 1)  # warm-up
        ours, hand = [], []
        for _ in range(a.repeats):
            ours.append(time_dlcli(recipe, a.epochs))
            hand.append(hand_loop(recipe, a.epochs))
        t_ours, t_hand = statistics.median(t for t, _ in ours), statistics.median(t for t, _ in hand)
        rows.append((name, t_ours, t_hand, t_ours / t_hand, ours[0][1], hand[0][1]))
    table = ["| recipe | dlcli train (s) | hand loop (s) | ratio | final train.loss dlcli | hand |",
             "|---|---|---|---|---|---|"]
    table += [f"| {r[0]} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:.3f}x | {r[4]:.6f} | {r[5]:.6f} |" for r in rows]
    publish([f"### VAE and GAN training vs hand-written loops ({time.strftime('%Y-%m-%d')})", "",
             f"Machine: {machine()}. {a.epochs} epochs, median of {a.repeats} alternating runs; both sides "
             "evaluate val every epoch with the task's metrics.", "", *table, ""], a.write)


if __name__ == "__main__":
    main()
