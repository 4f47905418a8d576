"""dlcli lock: record what a CI check must reproduce, from a recipe (trained now) or a finished run."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.cli.options import Json, RunsDir

EXAMPLE = "Example: dlcli lock recipes/digits-ci.yaml   |   dlcli lock runs/digits-ci/latest --out digits-ci.lock.json"


def lock(
    target: Annotated[Path, typer.Argument(help="A recipe YAML file (trained now, deterministically) or a finished run directory.", show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", help="Lock file to write (default: <recipe>.lock.json beside the recipe).")] = None,
    runs_dir: RunsDir = Path("runs"),
    json: Json = False,
) -> None:
    """Write a lock file: recipe, data and split hashes, environment, loss trace, metrics, weights and ONNX hashes."""
    from dlcli.report.console import TrainReporter, console, fmt_value, print_json
    from dlcli.workflows.check import lock_recipe_or_run

    path, locked = lock_recipe_or_run(target, out, runs_dir, TrainReporter(quiet=json))
    if json:
        print_json({"lock": str(path), **locked})
        return
    metrics = ", ".join(f"{k} {fmt_value(v)}" for k, v in locked["metrics"].items() if k.startswith("test."))
    console().print(f"wrote {path}: {locked['epochs']} epochs, weights sha256 {locked['weights'][:16]}…"
                    + (f", {metrics}" if metrics else ""), soft_wrap=True)
