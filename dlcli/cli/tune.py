"""dlcli tune: the recipe's search section as an Optuna study, resumable and shareable."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.cli.options import Json, RecipeArg, Sets

EXAMPLE = ("Example: dlcli tune recipes/digits-cnn-tune.yaml --trials 20 --workers 2   |   "
           "dlcli tune R.yaml --storage postgresql://user@db/optuna --study cnn (on every machine)")


def tune(
    recipe: RecipeArg,
    trials: Annotated[Optional[int], typer.Option("--trials", help="Total trials of the study (default: search.trials).")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes on this machine.")] = 1,
    storage: Annotated[Optional[str], typer.Option("--storage", help="Optuna storage URL shared by several machines (default: a journal file in the study folder).")] = None,
    study: Annotated[Optional[str], typer.Option("--study", help="Study name (default: the recipe name).")] = None,
    set_: Sets = None,
    studies_dir: Annotated[Path, typer.Option("--studies-dir", help="Where study folders are created.")] = Path("studies"),
    json: Json = False,
) -> None:
    """Search hyperparameters: each trial a full run; rerun the same command to resume a stopped search."""
    from dlcli.errors import RunFailed
    from dlcli.report.console import err_console, print_json
    from dlcli.cli.search_view import SearchView
    from dlcli.search.leaderboard import all_failed, summarise
    from dlcli.search.run import execute
    from dlcli.workflows.tune import make_plan

    plan = make_plan(recipe, set_ or [], trials, workers, storage, study, studies_dir)
    view = SearchView([o.metric for o in plan.setup.search.objectives], quiet=json)
    try:
        result = execute(plan, view, note=lambda text: err_console().print(f"note: {text}", soft_wrap=True,
                                                                           markup=False))
    except KeyboardInterrupt:
        view.close()
        err_console().print("interrupted: run the same command again to resume the study "
                            "(finished trials are kept; cut-off ones run again)", soft_wrap=True)
        raise
    finally:
        view.close()
    summary = summarise(result, plan)
    if json:
        print_json(summary)
    else:
        describe(summary)
    failed = all_failed(summary)
    if failed:  # nothing to show for it: a script must not take this for a search that worked
        raise RunFailed(failed)


def describe(summary: dict) -> None:
    from dlcli.report.console import console
    from dlcli.cli.search_view import leaderboard_table

    con = console()
    con.print(leaderboard_table(summary))
    if summary["importances"]:
        con.print("importances: " + ", ".join(f"{k} {v:.2f}" for k, v in summary["importances"].items()))
    files = "leaderboard.csv, best.yaml" if summary["best_yaml"] else "leaderboard.csv"
    con.print(f"study folder: {summary['study_dir']}  ({files}; rerun this command to resume)")
