"""dlcli sample: draw from a generative run (an image grid, or CSV/npz rows), or reconstruct held-out samples."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.cli.options import Json, RunArg

EXAMPLE = ("Example: dlcli sample runs/digits-vae/latest --n 64 --out samples.png   |   "
           "dlcli sample runs/digits-cgan/latest --label 3   |   dlcli sample runs/digits-ae/latest --reconstruct")


def sample(
    run: RunArg,
    n: Annotated[int, typer.Option("--n", min=1, help="How many samples (or reconstructions).")] = 64,
    label: Annotated[Optional[int], typer.Option("--label", help="Conditional GAN: the class to generate (default: every class in turn).", show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the noise or latent codes; the same seed gives the same samples.")] = 0,
    out: Annotated[Optional[Path], typer.Option("--out", help="Where to write: .png (image data), .csv or .npz (default: RUN/plots/samples.png for images, RUN/samples.csv otherwise).", show_default=False)] = None,
    reconstruct: Annotated[bool, typer.Option("--reconstruct", help="Reconstruct held-out samples through encoder and decoder instead (autoencoders, VAEs).")] = False,
    engine: Annotated[str, typer.Option("--engine", help="auto (ONNX Runtime when the run has the exported module, PyTorch otherwise), onnxruntime or pytorch.")] = "auto",
    json: Json = False,
) -> None:
    """Draw samples from a generative run (VAE, GAN, conditional GAN) or reconstruct its held-out samples (autoencoders)."""
    from dlcli.errors import UsageError
    from dlcli.report.console import console, print_json
    from dlcli.workflows.sample import sample_run

    if engine not in ("auto", "onnxruntime", "pytorch"):
        raise UsageError(f"--engine {engine!r}: use auto, onnxruntime or pytorch")
    result = sample_run(run, n, label, seed, out, reconstruct, engine)
    if json:
        print_json(result)
        return
    what = "reconstructed" if result.get("reconstruct") else "sampled"
    console().print(f"{what} {result['n']} with {result['engine']}: {', '.join(result['files'])}")
