"""dlcli eval: metrics of a run's evaluated weights (train.eval: best or last) on one of its own splits."""
from __future__ import annotations

from typing import Annotated

import typer

from dlcli.cli.options import Json, RunArg

EXAMPLE = "Example: dlcli eval runs/digits-cnn/latest --split test --json"


def eval_run(
    run: RunArg,
    split: Annotated[str, typer.Option("--split", help="train, val or test.")] = "test",
    json: Json = False,
) -> None:
    """Evaluate a run's checkpoint (best epoch, or last with train.eval: last) on its train, val or test split."""
    from dlcli.workflows.runs import evaluate_run
    from dlcli.report.console import console, err_console, metrics_table, per_length_table, print_json

    result = evaluate_run(run, split)
    for warning in result.get("warnings", []):  # on stderr: stdout may be a --json consumer
        err_console().print(f"warning: {warning}", soft_wrap=True)
    if json:
        print_json(result)
        return
    console().print(f"{result['run']}: {split} split, {result['samples']} samples, {result['weights']} weights")
    console().print(metrics_table({split: result["metrics"]}, title=""))
    if result["metrics"].get("per_length"):
        console().print(per_length_table(result["metrics"]["per_length"], f"{split} split by source length"))
    cm = result["metrics"].get("confusion_matrix")
    if cm:
        console().print(confusion_table(cm, result.get("classes")))


def confusion_table(cm: list, classes: list | None):
    from rich.table import Table

    names = classes or [str(i) for i in range(len(cm))]
    table = Table(title="confusion matrix (rows: true, columns: predicted)")
    table.add_column("")
    for n in names:
        table.add_column(str(n), justify="right")
    for n, row in zip(names, cm):
        table.add_row(str(n), *[str(v) for v in row])
    return table
