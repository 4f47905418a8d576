"""dlcli train: run a recipe (or resume a run) and print the best checkpoint's metrics."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.cli.options import Json, RunsDir, Sets

EXAMPLE = "Example: dlcli train recipes/digits-cnn.yaml --set train.epochs=5   |   dlcli train --resume runs/digits-cnn/0003"


def train(
    recipe: Annotated[Optional[Path], typer.Argument(help="A recipe YAML file.", show_default=False)] = None,
    set_: Sets = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue this run directory from its last checkpoint.")] = None,
    runs_dir: RunsDir = Path("runs"),
    json: Json = False,
) -> None:
    """Train a recipe into a new run directory, or continue an interrupted run with --resume."""
    from dlcli.data.splits import describe_leakage, leaked
    from dlcli.engine.train import run_training
    from dlcli.errors import UsageError
    from dlcli.report.console import TrainReporter, console, err_console, metrics_table, print_json

    if (recipe is None) == (resume is None):
        raise UsageError("give a recipe to train, or --resume RUN_DIR (not both)")
    record = run_training(recipe, resume, set_ or [], runs_dir, TrainReporter(quiet=json))
    if leaked(record.get("leakage")):  # check.leakage: warn (error stopped the run, off recorded none)
        err_console().print(f"warning: {describe_leakage(record['leakage'])}", soft_wrap=True)
    if json:
        print_json(record)
        return
    console().print(metrics_table(record["metrics"], title=f"best epoch {record['best_epoch']}"))
    console().print(f"run directory: {record['run']}  ({record['stop_reason']})")
    if "export" in record:
        from dlcli.cli.export import describe

        describe(record["export"])
