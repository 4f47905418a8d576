"""dlcli train: run a recipe (or resume a run) and print the evaluated checkpoint's metrics (best or last epoch)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.cli.options import Json, RunsDir, Sets

EXAMPLE = ("Example: dlcli train recipes/digits-cnn.yaml --set train.epochs=5   |   dlcli train --resume runs/digits-cnn/0003"
           "   |   dlcli train recipes/digits-resnet.yaml --nproc-per-node 4")


def train(
    recipe: Annotated[Optional[Path], typer.Argument(help="A recipe YAML file.", show_default=False)] = None,
    set_: Sets = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue this run directory from its last checkpoint.")] = None,
    runs_dir: RunsDir = Path("runs"),
    json: Json = False,
    nproc_per_node: Annotated[int, typer.Option("--nproc-per-node", min=1, help="Data-parallel processes on this node (GPUs, or CPU processes with gloo), started through torchrun.")] = 1,
    nnodes: Annotated[int, typer.Option("--nnodes", min=1, help="Nodes taking part; run the same command on each.")] = 1,
    rdzv_endpoint: Annotated[Optional[str], typer.Option("--rdzv-endpoint", help="HOST:PORT where the nodes meet (needed with --nnodes > 1).", show_default=False)] = None,
) -> None:
    """Train a recipe into a new run directory, or continue an interrupted run with --resume.
    With --nproc-per-node/--nnodes it relaunches itself through torchrun (DDP); started by torchrun
    or SLURM directly, it joins their process group on its own."""
    from dlcli.data.splits import describe_leakage, leaked
    from dlcli.workflows.train import run_training
    from dlcli.errors import UsageError
    from dlcli.report.console import TrainReporter, console, err_console, metrics_table, per_length_table, print_json

    if (recipe is None) == (resume is None):
        raise UsageError("give a recipe to train, or --resume RUN_DIR (not both)")
    if nproc_per_node > 1 or nnodes > 1:
        from dlcli.engine.launch import relaunch

        refuse_before_launch(recipe, resume, set_ or [], runs_dir)
        args = ([str(recipe)] if recipe else ["--resume", str(resume)]) + [a for v in (set_ or []) for a in ("--set", v)]
        args += ["--runs-dir", str(runs_dir)] + (["--json"] if json else [])
        raise typer.Exit(relaunch(nproc_per_node, nnodes, rdzv_endpoint, args))
    record = run_training(recipe, resume, set_ or [], runs_dir, TrainReporter(quiet=json))
    if record.get("rank", 0):  # another rank of a data-parallel run: rank 0 reports
        leave_quietly()
    if leaked(record.get("leakage")):  # check.leakage: warn (error stopped the run, off recorded none)
        err_console().print(f"warning: {describe_leakage(record['leakage'])}", soft_wrap=True)
    if json:
        print_json(record)
        return
    weights = record.get("weights", {})
    which = f"last epoch {weights['epoch']}" if weights.get("eval") == "last" else f"best epoch {record['best_epoch']}"
    console().print(metrics_table(record["metrics"], title=which))
    if record["metrics"].get("test", {}).get("per_length"):
        console().print(per_length_table(record["metrics"]["test"]["per_length"], "test split by source length"))
    console().print(f"run directory: {record['run']}  ({record['stop_reason']})")
    if "export" in record:
        from dlcli.cli.export import describe

        describe(record["export"])


def refuse_before_launch(recipe: Optional[Path], resume: Optional[Path], overrides: list[str], runs_dir: Path) -> None:
    """Bad input is one message before torchrun starts the ranks, not one per rank."""
    from dlcli.engine.rundir import check_writable, open_run

    if resume:
        from dlcli.workflows.train import resume_recipe

        resume_recipe(open_run(resume), overrides)
        return
    from dlcli.recipe.check import load_recipe

    load_recipe(recipe, overrides)
    check_writable(runs_dir, "--runs-dir")


def leave_quietly() -> None:
    """End a non-zero rank at once: it has left the process group and has nothing to write. Running
    the interpreter's shutdown instead once aborted a gloo rank ("terminate called without an active
    exception", exit -6) while C++ objects were torn down in an arbitrary order."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
