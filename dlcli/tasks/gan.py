"""Generative adversarial networks (Goodfellow et al., 2014) and their conditional variant (Mirza and
Osindero, 2014): models {generator, discriminator}, one optimizer per role (Adam 2e-4, beta1 0.5
by default, as DCGAN), the non-saturating or the hinge loss, `d_steps` discriminator updates per
generator update.

The discriminator network of the recipe maps a sample to features; the task adds its score head
and, when conditional, a projection of a label embedding onto those features (Miyato and Koyama,
2018). The conditional generator takes the noise concatenated with a label embedding.

Evaluation: D(x) and D(G(z)) on the split; on data with known modes (ring8, grid25) the VEEGAN
metrics of tasks/mode_metrics.py; for a conditional GAN, the accuracy with which a classifier,
trained by the task on the real train split only, recognises the label each sample was asked for.
"""
from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field

from dlcli.tasks.autoencoder import numel
from dlcli.tasks.base import ExportModule, Needs, Network, TaskArgs, TaskBase, tasks

LOG4 = math.log(4.0)  # the discriminator's non-saturating loss when it cannot tell real from fake


class GANArgs(TaskArgs):
    latent: int = Field(64, ge=1, le=4096, description="noise dimensions")
    loss: Literal["non_saturating", "hinge"] = "non_saturating"
    d_steps: int = Field(1, ge=1, le=100, description="discriminator updates per generator update")
    embed: int = Field(16, ge=1, le=4096, description="conditional: width of the generator's label embedding")
    eval_samples: int = Field(2000, ge=10, le=1_000_000, description="generated samples each evaluation scores")


def make_extras(width: int, classes: int, embed: int, conditional: bool) -> Any:
    """The task's own parameters: the discriminator's score head, and for a conditional GAN the
    discriminator's projection embedding and the generator's label embedding."""
    from torch import nn

    class Extras(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Linear(width, 1)
            if conditional:
                self.project = nn.Embedding(classes, width)
                self.g_embed = nn.Embedding(classes, embed)
                # the scale of a linear layer's weights, not N(0, 1): the projection term starts as
                # large as the head's, instead of swamping it
                nn.init.uniform_(self.project.weight, -width ** -0.5, width ** -0.5)

    return Extras()


class GANBase(TaskBase):
    """What the plain and the conditional GAN share; `conditional` chooses."""

    Args = GANArgs
    conditional = False
    samples_rows = True
    classes = 0  # known once the networks are built (complete)

    def network_names(self) -> list[str]:
        return ["generator", "discriminator"]

    def g_input(self) -> int:
        return self.args.latent + (self.args.embed if self.conditional else 0)

    def networks(self, info: Any) -> dict[str, Network]:
        shape = tuple(info.input_shape)
        return {"generator": Network((self.g_input(),), numel(shape), out_shape=shape, about="noise -> a sample"),
                "discriminator": Network(shape, None, about="a sample -> features; the task adds the score head")}

    def optimizers(self) -> dict[str, tuple[str, ...]]:
        return {"generator": ("generator",), "discriminator": ("discriminator", "extras")}

    def default_optimizer(self, role: str) -> Any:
        return {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]}

    def complete(self, nets: dict, plans: dict, info: Any) -> dict:
        width = numel(tuple(plans["discriminator"].out_shape))
        classes = self.classes = len(info.classes or [])
        return {**nets, "extras": make_extras(width, max(classes, 1), self.args.embed, self.conditional)}

    def logged(self, split: str, metric_names: list = ()) -> list[str]:
        return ["d_loss", "g_loss", "d_real", "d_fake", "loss"] + ([] if split == "train" else self.eval_names())

    def eval_names(self) -> list[str]:
        return (["conditional_accuracy"] if self.conditional else []) + ["diversity"]

    # ---------------------------------------------------------------- the two networks

    def generate(self, nets: dict, z: Any, y: Any) -> Any:
        """(B, *input_shape) samples in normalised units."""
        if self.conditional:
            import torch

            z = torch.cat([z, nets["extras"].g_embed(y)], 1)
        return nets["generator"](z)

    def score(self, nets: dict, x: Any, y: Any) -> Any:
        """D's logit (B,)."""
        h = nets["discriminator"](x)
        h = h.reshape(len(h), -1)
        s = nets["extras"].head(h).squeeze(1)
        if self.conditional:
            s = s + (nets["extras"].project(y) * h).sum(1)
        return s

    def noise(self, n: int, fit: Any, gen: Any) -> Any:
        import torch

        return torch.randn((n, self.args.latent), generator=gen, device=fit.device)

    def d_loss(self, real: Any, fake: Any) -> Any:
        from torch.nn import functional as F

        if self.args.loss == "hinge":
            return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def g_loss(self, fake: Any) -> Any:
        from torch.nn import functional as F

        return -fake.mean() if self.args.loss == "hinge" else F.softplus(-fake).mean()

    def seen(self, scores: Any) -> Any:
        """What D says of a batch, for the log: its mean probability of 'real' (its mean score for hinge)."""
        return scores.mean() if self.args.loss == "hinge" else scores.sigmoid().mean()

    # ---------------------------------------------------------------- training

    def shape_fake(self, fake: Any, x: Any) -> Any:
        return fake.reshape(x.shape)

    def train_step(self, batch: Any, fit: Any) -> dict:
        x, y = batch
        nets, n = fit.train_nets, len(x)
        y = y if self.conditional else None
        for _ in range(self.args.d_steps):
            with fit.autocast():
                fake = self.shape_fake(self.generate(nets, self.noise(n, fit, fit.gen), y), x).detach()
                real_s, fake_s = self.score(nets, x, y).float(), self.score(nets, fake, y).float()
            d_loss = self.d_loss(real_s, fake_s)
            fit.step(d_loss, "discriminator")
        with fit.autocast():
            fake = self.shape_fake(self.generate(nets, self.noise(n, fit, fit.gen), y), x)
            g_s = self.score(nets, fake, y).float()
        g_loss = self.g_loss(g_s)
        fit.step(g_loss, "generator")
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "d_real": self.seen(real_s).detach(),
                "d_fake": self.seen(fake_s).detach(), "loss": (d_loss + g_loss).detach()}

    def callbacks(self) -> list:
        return [GeneratorLost()] if self.args.loss == "non_saturating" else []

    # ---------------------------------------------------------------- evaluation

    def evaluate(self, split: str, fit: Any) -> dict:
        """D's view of the split against fresh fakes, then what the generated samples are worth."""
        import torch

        gen = torch.Generator(device=fit.device).manual_seed(fit.resolved.recipe.seed)
        x, y = fit.data.x[split], fit.data.y[split]
        nets = fit.nets
        fit.train_mode(False)
        with torch.no_grad():
            yy = y if self.conditional else None
            fake = self.shape_fake(self.generate(nets, self.noise(len(x), fit, gen), yy), x)
            real_s, fake_s = self.score(nets, x, yy).float(), self.score(nets, fake, yy).float()
            out = {"d_loss": self.d_loss(real_s, fake_s).item(), "g_loss": self.g_loss(fake_s).item(),
                   "d_real": self.seen(real_s).item(), "d_fake": self.seen(fake_s).item()}
            out["loss"] = out["d_loss"] + out["g_loss"]
            out.update(self.sample_quality(fit, gen))
        fit.train_mode(True)
        return out

    def sample_quality(self, fit: Any, gen: Any) -> dict:
        """Mode metrics on data with known modes; conditional accuracy for a conditional GAN."""
        out: dict = {}
        extra = fit.data.dataset.extra
        if "modes" in extra:
            from dlcli.tasks.mode_metrics import mode_metrics

            points = self.generated_raw(fit, self.args.eval_samples, gen, None)
            out.update({k: v for k, v in mode_metrics(points.reshape(len(points), -1), extra["modes"],
                                                       extra["mode_std"]).items() if k != "samples"})
        if self.conditional:
            out["conditional_accuracy"] = self.conditional_accuracy(fit, gen)
        if "modes" not in extra:
            out["diversity"] = self.diversity(fit, gen)
        return out

    def diversity(self, fit: Any, gen: Any, n: int = 500) -> float:
        """Mean pairwise distance between generated samples over the same between real train samples
        (within each class for a conditional GAN): 1 is as varied as the data, near 0 is a collapse."""
        import torch

        x, y = fit.data.x["train"], fit.data.y["train"]
        classes = max(self.classes, 1) if self.conditional else 1
        labels = torch.arange(n, device=fit.device) % classes
        with torch.no_grad():
            fake = self.generate(fit.nets, self.noise(n, fit, gen), labels if self.conditional else None)
        fake, real = fake.reshape(n, -1).float(), x.reshape(len(x), -1).float()
        ratios = []
        for k in range(classes):
            f = fake[labels == k]
            r = real[y == k][:len(f)] if self.conditional else real[:len(f)]
            ratios.append((torch.pdist(f).mean() / torch.pdist(r).mean().clamp_min(1e-12)).item())
        return float(sum(ratios) / len(ratios))

    def generated_raw(self, fit: Any, n: int, gen: Any, y: Any) -> np.ndarray:
        """n generated samples in the data's units, as numpy (N, *input_shape)."""
        import torch

        with torch.no_grad():
            out = fit.model.denormalize(self.generate(fit.nets, self.noise(n, fit, gen), y).reshape(
                n, *fit.data.dataset.info.input_shape))
        return out.float().cpu().numpy()

    def conditional_accuracy(self, fit: Any, gen: Any) -> float:
        """How often the judge classifies a generated sample as the label it was generated for,
        over eval_samples samples with the labels dealt in turn."""
        import torch

        classes = len(fit.data.dataset.info.classes)
        judge = self.judge(fit)
        y = torch.arange(self.args.eval_samples, device=fit.device) % classes
        with torch.no_grad():
            fake = self.generate(fit.nets, self.noise(len(y), fit, gen), y).reshape(len(y), -1)
            return (judge(fake).argmax(1) == y).float().mean().item()

    def judge(self, fit: Any) -> Any:
        """A classifier trained on the real train split only (normalised units), once per run and
        from its own seeded generator: the same judge after a resume."""
        if getattr(self, "_judge", None) is None:
            self._judge = train_judge(fit)
        return self._judge

    # ---------------------------------------------------------------- export and sampling

    def sample_inputs(self, n: int, seed: int, label: Any = None) -> dict:
        rng = np.random.default_rng(seed)
        inputs = {"noise": rng.standard_normal((n, self.args.latent)).astype(np.float32)}
        if self.conditional:
            inputs["label"] = (np.arange(n) % self.classes if label is None else np.full(n, label)).astype(np.int64)
        return inputs

    def pictures(self, fit: Any, folder: Any) -> list:
        from dlcli.tasks.pictures import samples

        n = 10 * self.classes if self.conditional else (1000 if fit.data.dataset.info.layout != "image" else 64)
        inputs = self.sample_inputs(n, fit.resolved.recipe.seed)
        return samples(fit, self.export_modules(fit)["generator"].module, inputs, folder)

    def export_modules(self, fit: Any) -> dict[str, ExportModule]:
        """generator.onnx: noise (and a label) -> a sample in the data's units."""
        info = fit.data.dataset.info
        inputs = self.sample_inputs(256, fit.resolved.recipe.seed)
        meaning = {"scores": "sample", "input": {"shape": [None, self.args.latent], "dtype": "float32",
                                                  "meaning": "standard normal noise"},
                   "output": {"shape": [None, *info.user_shape], "meaning": "a generated sample, in the data's units"}}
        if self.conditional:
            meaning["labels"] = {"dtype": "int64", "classes": info.classes}
        return {"generator": ExportModule(Generate(fit.model, self, tuple(info.input_shape)), inputs, ["sample"], meaning)}


def Generate(bundle: Any, task: GANBase, shape: tuple) -> Any:
    """noise (, label) -> generator -> the data's units, as one module for export."""
    from torch import nn

    class _Generate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bundle = bundle

        def forward(self, z, label=None):  # (B, latent)[, (B,)] -> (B, *raw_shape)
            nets = {"generator": self.bundle.generator, "extras": self.bundle.extras}
            return self.bundle.denormalize(task.generate(nets, z, label).reshape(-1, *shape))

    return _Generate().eval()


def train_judge(fit: Any, epochs: int = 60) -> Any:
    """An MLP (256 hidden units) trained with Adam on the real train split, full batches of 256."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    x = fit.data.x["train"].reshape(fit.data.size("train"), -1).float()
    y = fit.data.y["train"]
    gen = torch.Generator(device=fit.device).manual_seed(fit.resolved.recipe.seed + 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(fit.resolved.recipe.seed + 1)
        judge = nn.Sequential(nn.Linear(x.shape[1], 256), nn.ReLU(), nn.Linear(256, len(fit.data.dataset.info.classes)))
    judge = judge.to(fit.device)
    opt = torch.optim.Adam(judge.parameters(), lr=1e-3)
    with torch.enable_grad():
        for _ in range(epochs):
            perm = torch.randperm(len(x), generator=gen, device=fit.device)
            for i in range(0, len(x), 256):
                idx = perm[i:i + 256]
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(judge(x[idx]), y[idx]).backward()
                opt.step()
    return judge.eval()


class GeneratorLost:
    """Warns once when the discriminator's loss stays far below log 4 (the value when it cannot tell
    real from fake) for `epochs` epochs in a row: it wins every time, and the generator gets no
    useful gradient."""

    def __init__(self, below: float = 0.1 * LOG4, epochs: int = 5):
        self.below, self.epochs, self.streak, self.said = below, epochs, 0, False

    def on_fit_start(self, fit: Any, state: Any) -> None: ...

    def on_step(self, fit: Any, state: Any, done: int, steps: int, scalars: dict) -> None: ...

    def on_after_backward(self, fit: Any, role: str) -> None: ...

    def on_epoch_end(self, fit: Any, record: dict, state: Any) -> bool:
        self.streak = self.streak + 1 if record.get("train.d_loss", LOG4) < self.below else 0
        if self.streak >= self.epochs and not self.said and fit.dist.main:
            import sys

            self.said = True
            print(f"warning: the discriminator's loss has stayed below {self.below:.3f} (log 4 = {LOG4:.3f} when it "
                  f"cannot tell real from fake) for {self.epochs} epochs: the generator has lost; lower the "
                  f"discriminator's lr, raise the generator's, or set task.d_steps: 1", file=sys.stderr)
        return False

    def on_fit_end(self, fit: Any, state: Any) -> None: ...


@tasks.register("gan")
class GAN(GANBase):
    """Generative adversarial network: models {generator, discriminator}; non-saturating or hinge loss."""

    example = """
task: {name: gan, latent: 4, eval_samples: 200}
data: {source: {type: ring8, size: 256}, normalize: none}
models:
  generator: [{linear: 32}, relu, {linear: auto}]
  discriminator: [{linear: 32}, relu]
train: {epochs: 3, batch_size: 64, eval: last}
"""


@tasks.register("cgan")
class ConditionalGAN(GANBase):
    """Conditional GAN: a label embedding in both networks (projection discriminator); needs class labels."""

    conditional = True
    needs = Needs(labels=("classes",))
    example = """
task: {name: cgan, latent: 8, eval_samples: 100}
data: {source: digits}
models:
  generator: [{linear: 32}, relu, {linear: auto}]
  discriminator: [flatten, {linear: 32}, relu]
train: {epochs: 3, batch_size: 128, eval: last}
"""
