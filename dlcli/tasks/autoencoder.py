"""Autoencoders: an encoder to a `code`-wide bottleneck and a decoder back to the input, trained to
reconstruct; sparse (an L1 or KL penalty on the code) and denoising (noise on the input, the clean
input as target) variants. Every result reads against PCA with the same width: `pca_mse` is the
reconstruction error of the top-`code` principal components fitted on the train split, the
optimum a linear autoencoder reaches (Baldi and Hornik, 1989), and `mse_vs_pca` the ratio (left
out for an overcomplete code, at least as wide as the input, which PCA reconstructs exactly)."""
from __future__ import annotations

import math
from typing import Any, Literal, Optional

from pydantic import Field

from dlcli.components import ComponentArgs
from dlcli.tasks.base import ExportModule, Network, TaskArgs, TaskBase, tasks


class Sparsity(ComponentArgs):
    """A penalty that keeps most code units near zero: `l1` on the code's activations, or `kl`
    between a target firing rate and each unit's mean of sigmoid(code) over the batch."""

    kind: Literal["l1", "kl"] = "l1"
    weight: float = Field(1e-3, gt=0, description="the penalty's weight in the loss")
    target: float = Field(0.05, gt=0, lt=1, description="kl: the firing rate each code unit is pulled towards")


class Noise(ComponentArgs):
    """Corruption of the (normalised) training inputs; the target stays the clean input."""

    kind: Literal["gaussian", "mask"] = "gaussian"
    std: float = Field(0.5, gt=0, description="gaussian: standard deviation, in normalised units")
    p: float = Field(0.25, gt=0, lt=1, description="mask: the fraction of input elements set to zero")


class AutoencoderArgs(TaskArgs):
    code: int = Field(32, ge=1, le=65536, description="bottleneck width: what `linear: auto` ends the encoder with")
    sparsity: Optional[Sparsity] = None
    noise: Optional[Noise] = None


def numel(shape: tuple) -> int:
    return math.prod(int(d) for d in shape)


@tasks.register("autoencoder")
class Autoencoder(TaskBase):
    """Reconstruct the input through a narrow code: models {encoder, decoder}, or one model with a `bottleneck`; sparse and denoising variants."""

    Args = AutoencoderArgs
    samples_rows = True
    split_at = "bottleneck"
    example = """
task: {name: autoencoder, code: 4, sparsity: {kind: kl}, noise: {kind: gaussian, std: 0.3}}
data: {source: digits}
models:
  encoder: [flatten, {linear: 16}, relu, {linear: auto}]
  decoder: [{linear: 16}, relu, {linear: auto}, {reshape: [1, 8, 8]}]
train: {epochs: 3, batch_size: 128}
"""

    def network_names(self) -> list[str]:
        return ["encoder", "decoder"]

    def networks(self, info: Any) -> dict[str, Network]:
        shape, code = tuple(info.input_shape), self.args.code
        return {"encoder": Network(shape, code, about="inputs -> code"),
                "decoder": Network((code,), numel(shape), out_shape=shape, about="the input's shape, reconstructed")}

    def optimizers(self) -> dict[str, tuple[str, ...]]:
        return {"model": ("encoder", "decoder")}

    def logged(self, split: str, metric_names: list = ()) -> list[str]:
        extra = ["sparsity"] if self.args.sparsity else []
        return ["loss", "mse", *extra] if split == "train" else ["loss", "mse", *extra, "pca_mse", "mse_vs_pca"]

    def corrupt(self, x: Any, fit: Any) -> Any:
        import torch

        noise = self.args.noise
        if noise is None:
            return x
        if noise.kind == "gaussian":
            return x + noise.std * torch.randn(x.shape, generator=fit.gen, device=x.device, dtype=x.dtype)
        keep = torch.rand(x.shape, generator=fit.gen, device=x.device) >= noise.p
        return x * keep

    def penalty(self, code: Any) -> Any:
        s = self.args.sparsity
        if s.kind == "l1":
            return s.weight * code.abs().mean()
        rate = code.sigmoid().mean(0).clamp(1e-6, 1 - 1e-6)  # (code,)
        kl = s.target * (s.target / rate).log() + (1 - s.target) * ((1 - s.target) / (1 - rate)).log()
        return s.weight * kl.sum()

    def losses(self, x: Any, nets: dict, fit: Any, clean: Optional[Any] = None) -> dict:
        """Named losses of one batch: `mse` per element (normalised units), the penalty, their sum."""
        with fit.autocast():
            code = nets["encoder"](x)
            out = nets["decoder"](code)
        target = x if clean is None else clean
        mse = (out.float().reshape(target.shape) - target).pow(2).mean()
        named = {"mse": mse}
        if self.args.sparsity:
            named["sparsity"] = self.penalty(code.float())
        return {"loss": sum(named.values()), **named}

    def train_step(self, batch: Any, fit: Any) -> dict:
        x, _ = batch
        named = self.losses(self.corrupt(x, fit), fit.train_nets, fit, clean=x)
        fit.step(named["loss"])
        return {k: v.detach() for k, v in named.items()}

    def evaluate(self, split: str, fit: Any) -> dict:
        import torch

        nets, x = fit.nets, fit.data.x[split]
        fit.train_mode(False)
        with torch.no_grad():
            sums: dict = {}
            for i in range(0, len(x), fit.eval_batch_size):
                xb = x[i:i + fit.eval_batch_size]
                for k, v in self.losses(xb, nets, fit).items():
                    sums[k] = sums.get(k, 0.0) + v.double() * len(xb)
        fit.train_mode(True)
        result = {k: (v / len(x)).item() for k, v in sums.items()}
        result["pca_mse"] = self.pca_mse(fit, x)
        if self.args.code < numel(tuple(fit.data.dataset.info.input_shape)):  # else PCA is exact: no ratio
            result["mse_vs_pca"] = result["mse"] / max(result["pca_mse"], 1e-30)
        return result

    def pca_mse(self, fit: Any, x: Any) -> float:
        """Per-element reconstruction MSE of `x` by PCA with `code` components fitted on the train split."""
        mean, basis = self.pca(fit)
        flat = x.reshape(len(x), -1).double() - mean
        recon = flat @ basis @ basis.T
        return (flat - recon).pow(2).mean().item()

    def pca(self, fit: Any) -> tuple:
        """(mean, top-`code` principal directions as columns), computed once per run, in float64."""
        if getattr(self, "_pca", None) is None:
            import torch

            train = fit.data.x["train"].reshape(fit.data.size("train"), -1).double()
            mean = train.mean(0)
            _, _, vh = torch.linalg.svd(train - mean, full_matrices=False)
            self._pca = (mean, vh[:self.args.code].T)
        return self._pca

    def pictures(self, fit: Any, folder: Any) -> list:
        from dlcli.tasks.pictures import reconstructions

        return reconstructions(fit, self.export_modules(fit), folder)

    def export_modules(self, fit: Any) -> dict[str, ExportModule]:
        """encoder.onnx: raw inputs -> code; decoder.onnx: code -> reconstruction in the data's units."""
        decoder = Decode(fit.model, tuple(fit.data.dataset.info.input_shape))
        return codec_modules(fit, Encode(fit.model), decoder, self.args.code, ("code", "the code (bottleneck activations)"),
                             ("a code", "the reconstruction, in the data's units"))


def codec_modules(fit: Any, encoder: Any, decoder: Any, width: int, code: tuple, out: tuple) -> dict[str, ExportModule]:
    """encoder.onnx and decoder.onnx, the decoder traced on the codes of held-out samples; `code` is
    (the encoder output's name, what it means), `out` (what a code is, what the decoder gives)."""
    import numpy as np
    import torch

    info, x = fit.data.dataset.info, fit.held_out_raw(256)
    with torch.no_grad():
        codes = encoder(torch.as_tensor(x)).numpy().astype(np.float32)
    raw = [None, *info.user_shape]
    return {
        "encoder": ExportModule(encoder, {"input": x}, [code[0]], {
            "scores": code[0], "input": {"shape": raw, "dtype": "float32", "layout": info.layout},
            "output": {"shape": [None, width], "meaning": code[1]}}),
        "decoder": ExportModule(decoder, {"code": codes}, ["reconstruction"], {
            "scores": "reconstruction", "input": {"shape": [None, width], "dtype": "float32", "meaning": out[0]},
            "output": {"shape": raw, "meaning": out[1]}}),
    }


def Encode(bundle: Any) -> Any:
    """raw x -> normalise -> encoder -> code, as one module for export."""
    from torch import nn

    class _Encode(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bundle = bundle

        def forward(self, x):  # (B, *raw_shape) -> (B, code)
            return self.bundle.encoder(self.bundle.normalize(x))

    return _Encode().eval()


def Decode(bundle: Any, shape: tuple, squash: bool = False) -> Any:
    """code -> decoder (then sigmoid when `squash`: a Bernoulli decoder's logits) -> the input's
    shape -> the data's units, as one module for export."""
    from torch import nn

    class _Decode(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bundle = bundle

        def forward(self, z):  # (B, code) -> (B, *raw_shape)
            out = self.bundle.decoder(z).reshape(-1, *shape)  # (B, *input_shape)
            return self.bundle.denormalize(out.sigmoid() if squash else out)

    return _Decode().eval()
