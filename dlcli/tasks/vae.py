"""The variational autoencoder (Kingma and Welling, 2014): a Gaussian encoder q(z|x) (the task adds
the mean and log-variance heads to the recipe's encoder), a standard normal prior, and a Bernoulli
decoder for data in [0, 1] (after normalisation: use `normalize: minmax`) or a Gaussian one with a
learned per-element scale otherwise.

Every figure is in nats per sample: each sample's log-likelihood is summed over its elements and
the KL over the latent units, then averaged over the samples. `beta` weights the KL (beta-VAE)
and warms up linearly from 0 over `warmup` epochs. On val and test the importance-weighted bound
with k = `iw_samples` (Burda et al., 2016) estimates the negative log-likelihood `nll` (not on
the train split: it costs k decoder passes per sample).
"""
from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field

from dlcli.tasks.autoencoder import Decode, codec_modules, numel
from dlcli.tasks.base import ExportModule, Network, TaskArgs, TaskBase, tasks


class VAEArgs(TaskArgs):
    latent: int = Field(16, ge=1, le=4096, description="latent dimensions")
    beta: float = Field(1.0, gt=0, le=1000, description="weight of the KL term (beta-VAE)")
    warmup: int = Field(0, ge=0, description="epochs over which the KL weight grows linearly from 0 to beta")
    likelihood: Literal["auto", "bernoulli", "gaussian"] = Field(
        "auto", description="bernoulli for data in [0, 1] after normalisation, gaussian otherwise (auto: by the train split)")
    iw_samples: int = Field(100, ge=1, le=10000, description="k of the importance-sampled NLL on val and test")


def make_heads(width: int, latent: int, elements: int) -> Any:
    """The task's own parameters: the mean and log-variance heads on the encoder's features, and
    the Gaussian decoder's log-scale per element."""
    import torch
    from torch import nn

    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mu, self.logvar = nn.Linear(width, latent), nn.Linear(width, latent)
            self.log_scale = nn.Parameter(torch.zeros(elements))

        def forward(self, h):  # (B, width) -> (B, latent), (B, latent)
            return self.mu(h), self.logvar(h).clamp(-30.0, 20.0)

    return Heads()


@tasks.register("vae")
class VAE(TaskBase):
    """Variational autoencoder: models {encoder, decoder} (or one model with a `bottleneck`); Gaussian latent, Bernoulli or Gaussian decoder; ELBO and IW-NLL."""

    Args = VAEArgs
    samples_rows = True
    split_at = "bottleneck"
    example = """
task: {name: vae, latent: 2, warmup: 1, iw_samples: 8}
data: {source: digits, normalize: minmax}
models:
  encoder: [flatten, {linear: 32}, relu]
  decoder: [{linear: 32}, relu, {linear: auto}]
train: {epochs: 3, batch_size: 128}
"""

    def network_names(self) -> list[str]:
        return ["encoder", "decoder"]

    def networks(self, info: Any) -> dict[str, Network]:
        shape = tuple(info.input_shape)
        return {"encoder": Network(shape, None, about="inputs -> features; the task adds the mean and log-variance heads"),
                "decoder": Network((self.args.latent,), numel(shape), out_shape=shape,
                                   about="the input's shape: logits (Bernoulli) or means (Gaussian)")}

    def optimizers(self) -> dict[str, tuple[str, ...]]:
        return {"model": ("encoder", "heads", "decoder")}

    def complete(self, nets: dict, plans: dict, info: Any) -> dict:
        width = numel(tuple(plans["encoder"].out_shape))
        return {**nets, "heads": make_heads(width, self.args.latent, numel(tuple(info.input_shape)))}

    def logged(self, split: str, metric_names: list = ()) -> list[str]:
        train = ["loss", "recon", "kl", "beta"]
        return train if split == "train" else ["loss", "elbo", "recon", "kl", "nll"]

    def bernoulli(self, fit: Any) -> bool:
        if self.args.likelihood != "auto":
            return self.args.likelihood == "bernoulli"
        x = fit.data.x["train"]
        return bool(x.min() >= 0 and x.max() <= 1)

    def encode(self, nets: dict, x: Any) -> tuple:
        h = nets["encoder"](x)
        return nets["heads"](h.reshape(len(h), -1))

    def recon_nll(self, nets: dict, z: Any, x: Any, bernoulli: bool) -> Any:
        """-log p(x|z) per sample, summed over elements: (B,) for z (B, latent)."""
        from torch.nn import functional as F

        out = nets["decoder"](z).float().reshape(len(z), -1)
        flat = x.reshape(len(x), -1)
        if bernoulli:
            return F.binary_cross_entropy_with_logits(out, flat, reduction="none").sum(1)
        log_scale = nets["heads"].log_scale
        return (0.5 * ((flat - out) / log_scale.exp()).pow(2) + log_scale + 0.5 * math.log(2 * math.pi)).sum(1)

    def terms(self, nets: dict, x: Any, fit: Any, gen: Any) -> tuple:
        """(recon, kl) per sample, one reparameterised z each."""
        import torch

        with fit.autocast():
            mu, logvar = self.encode(nets, x)
        mu, logvar = mu.float(), logvar.float()
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=gen, device=mu.device)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        return self.recon_nll(nets, z, x, self.bernoulli_cached(fit)), kl

    def bernoulli_cached(self, fit: Any) -> bool:
        if getattr(self, "_bernoulli", None) is None:
            self._bernoulli = self.bernoulli(fit)
        return self._bernoulli

    def beta_now(self, fit: Any) -> float:
        if not self.args.warmup:
            return self.args.beta
        done = fit.role(None).steps / max(1, self.args.warmup * fit.steps_per_epoch)
        return self.args.beta * min(1.0, done)

    def train_step(self, batch: Any, fit: Any) -> dict:
        import torch

        x, _ = batch
        recon, kl = self.terms(fit.train_nets, x, fit, fit.gen)
        beta = self.beta_now(fit)
        loss = (recon + beta * kl).mean()
        fit.step(loss)
        return {"loss": loss.detach(), "recon": recon.mean().detach(), "kl": kl.mean().detach(),
                "beta": torch.tensor(beta, device=x.device)}

    def evaluate(self, split: str, fit: Any) -> dict:
        """-ELBO (loss, with beta 1), its two terms and the importance-sampled NLL, in nats per
        sample, from a generator seeded by the recipe's seed (the same numbers every time)."""
        import torch

        gen = torch.Generator(device=fit.device).manual_seed(fit.resolved.recipe.seed)
        iw = split != "train"  # the importance-sampled NLL costs k decoder passes per sample: val and test
        x, nets, totals = fit.data.x[split], fit.nets, {"recon": 0.0, "kl": 0.0, **({"nll": 0.0} if iw else {})}
        fit.train_mode(False)
        with torch.no_grad():
            for i in range(0, len(x), fit.eval_batch_size):
                xb = x[i:i + fit.eval_batch_size]
                recon, kl = self.terms(nets, xb, fit, gen)
                totals["recon"] += recon.double().sum().item()
                totals["kl"] += kl.double().sum().item()
                if iw:
                    totals["nll"] += self.iw_nll(nets, xb, fit, gen).double().sum().item()
        fit.train_mode(True)
        out = {k: v / len(x) for k, v in totals.items()}
        return {"loss": out["recon"] + out["kl"], "elbo": -(out["recon"] + out["kl"]), **out}

    def iw_nll(self, nets: dict, x: Any, fit: Any, gen: Any) -> Any:
        """-log p(x) by importance sampling with k samples of q(z|x): (B,)."""
        import torch

        k, bern = self.args.iw_samples, self.bernoulli_cached(fit)
        mu, logvar = (t.float() for t in self.encode(nets, x))
        std = (0.5 * logvar).exp()
        logs = []
        for _ in range(k):
            eps = torch.randn(mu.shape, generator=gen, device=mu.device)
            z = mu + std * eps
            log_q = (-0.5 * eps.pow(2) - 0.5 * logvar - 0.5 * math.log(2 * math.pi)).sum(1)
            log_p = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(1)
            logs.append(log_p - self.recon_nll(nets, z, x, bern) - log_q)
        return -(torch.logsumexp(torch.stack(logs), 0) - math.log(k))

    def sample_inputs(self, n: int, seed: int, label: Any = None) -> dict:
        """Latent codes from the prior, drawn with numpy so ONNX Runtime and PyTorch decode the same ones."""
        return {"code": np.random.default_rng(seed).standard_normal((n, self.args.latent)).astype(np.float32)}

    def pictures(self, fit: Any, folder: Any) -> list:
        from dlcli.tasks.pictures import reconstructions, samples

        modules = self.export_modules(fit)
        drawn = samples(fit, modules["decoder"].module, self.sample_inputs(64, fit.resolved.recipe.seed), folder)
        return reconstructions(fit, modules, folder) + drawn

    def export_modules(self, fit: Any) -> dict[str, ExportModule]:
        """encoder.onnx: raw inputs -> the posterior mean; decoder.onnx: a latent code -> the mean of
        p(x|z) in the data's units (sigmoid of the logits for a Bernoulli decoder)."""
        shape = tuple(fit.data.dataset.info.input_shape)
        decoder = Decode(fit.model, shape, squash=self.bernoulli_cached(fit))
        return codec_modules(fit, PosteriorMean(fit.model), decoder, self.args.latent,
                             ("posterior_mean", "the mean of q(z|x)"),
                             ("a latent code; the prior is N(0, I)", "the mean of p(x|z), in the data's units"))


def PosteriorMean(bundle: Any) -> Any:
    """raw x -> normalise -> encoder -> the mean head, as one module for export."""
    from torch import nn

    class _Mean(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bundle = bundle

        def forward(self, x):  # (B, *raw_shape) -> (B, latent)
            h = self.bundle.encoder(self.bundle.normalize(x))
            return self.bundle.heads.mu(h.reshape(h.shape[0], -1))

    return _Mean().eval()
