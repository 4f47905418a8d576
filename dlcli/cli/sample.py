"""dlcli sample: draw from a generative run (an image grid, or CSV/npz rows), or reconstruct held-out samples."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.cli.options import Json, RunArg

EXAMPLE = ("Example: dlcli sample runs/digits-vae/latest --n 64 --out samples.png   |   "
           "dlcli sample runs/digits-cgan/latest --label 3   |   dlcli sample runs/digits-ae/latest --reconstruct   |   "
           "dlcli sample runs/pydoc-gpt/latest --prompt 'The ' --length 200 --temperature 0.8 --top-k 20")


def sample(
    run: RunArg,
    n: Annotated[int, typer.Option("--n", min=1, help="How many samples (or reconstructions).")] = 64,
    label: Annotated[Optional[int], typer.Option("--label", help="Conditional GAN: the class to generate (default: every class in turn).", show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the noise or latent codes; the same seed gives the same samples.")] = 0,
    out: Annotated[Optional[Path], typer.Option("--out", help="Where to write: .png (image data), .csv or .npz (default: RUN/plots/samples.png for images, RUN/samples.csv otherwise).", show_default=False)] = None,
    reconstruct: Annotated[bool, typer.Option("--reconstruct", help="Reconstruct held-out samples through encoder and decoder instead (autoencoders, VAEs).")] = False,
    engine: Annotated[str, typer.Option("--engine", help="auto (ONNX Runtime when the run has the exported module, PyTorch otherwise), onnxruntime or pytorch.")] = "auto",
    prompt: Annotated[Optional[str], typer.Option("--prompt", help="Language model: the text to continue (streamed as it is generated).", show_default=False)] = None,
    length: Annotated[int, typer.Option("--length", help="Language model: how many tokens to generate.")] = 200,
    temperature: Annotated[float, typer.Option("--temperature", help="Language model: divides the scores before the draw; below 1 is greedier.")] = 1.0,
    top_k: Annotated[Optional[int], typer.Option("--top-k", help="Language model: draw among the k most likely tokens only (default: all).", show_default=False)] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Language model: refuse a prompt with characters outside the vocabulary instead of reading them as <unk>.")] = False,
    json: Json = False,
) -> None:
    """Draw samples from a generative run (VAE, GAN, conditional GAN), reconstruct its held-out samples (autoencoders), or continue a prompt (language models)."""
    from dlcli.errors import UsageError
    from dlcli.report.console import console, print_json
    from dlcli.workflows.sample import sample_run

    if engine not in ("auto", "onnxruntime", "pytorch"):
        raise UsageError(f"--engine {engine!r}: use auto, onnxruntime or pytorch")
    if prompt is not None:
        return continue_prompt(run, prompt, length, temperature, top_k, seed, engine, strict, json)
    result = sample_run(run, n, label, seed, out, reconstruct, engine)
    if json:
        print_json(result)
        return
    what = "reconstructed" if result.get("reconstruct") else "sampled"
    console().print(f"{what} {result['n']} with {result['engine']}: {', '.join(result['files'])}")


def continue_prompt(run: Path, prompt: str, length: int, temperature: float, top_k: Optional[int], seed: int,
                    engine: str, strict: bool, json: bool) -> None:
    """The prompt, then each new piece of text as it is drawn (plain stdout: it pipes); --json: one document at the end."""
    import sys

    from dlcli.report.console import err_console, print_json
    from dlcli.workflows.sample_text import sample_text

    def emit(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    warn = lambda message: err_console().print(message, soft_wrap=True, markup=False)  # noqa: E731
    result = sample_text(run, prompt, length, temperature, top_k, seed, engine, strict, None if json else emit, warn)
    if json:
        print_json(result)
    else:
        emit("\n")
