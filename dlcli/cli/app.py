"""The `dlcli` command: wiring only. Commands import torch lazily, so --help and validate are fast."""
from __future__ import annotations

import sys

import typer

from dlcli.cli import (atlas, check, evaluate, export, inspect, listing, lock, predict, recipes, sample, show, train, tune,
                       validate)

app = typer.Typer(
    name="dlcli", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="A deep learning workbench: one YAML recipe, commands to validate, train, evaluate and export it.",
    epilog="Example: dlcli train recipes/digits-cnn.yaml --set train.epochs=5",
)
state = {"debug": False}


@app.callback()
def root(debug: bool = typer.Option(False, "--debug", help="Show the traceback when a run fails.")) -> None:
    state["debug"] = debug


app.command(epilog=validate.EXAMPLE)(validate.validate)
app.command(epilog=show.SHOW_EXAMPLE)(show.show)
app.command(epilog=train.EXAMPLE)(train.train)
app.command("eval", epilog=evaluate.EXAMPLE)(evaluate.eval_run)
app.command(epilog=export.EXAMPLE)(export.export)
app.command(epilog=predict.EXAMPLE)(predict.predict)
app.command(epilog=sample.EXAMPLE)(sample.sample)
app.command(epilog=inspect.EXAMPLE)(inspect.inspect)
app.command(epilog=atlas.EXAMPLE)(atlas.atlas)
app.command(epilog=tune.EXAMPLE)(tune.tune)
app.command(epilog=lock.EXAMPLE)(lock.lock)
app.command(epilog=check.EXAMPLE)(check.check)
app.command(epilog=show.SCHEMA_EXAMPLE)(show.schema)
app.command("ls", epilog=listing.EXAMPLE)(listing.ls)
app.command(epilog=listing.DOCTOR_EXAMPLE)(listing.doctor)
app.add_typer(recipes.app, name="recipes")


def main() -> None:
    """Entry point: map errors to exit codes (2 bad input, 1 failed run) without tracebacks."""
    from dlcli.errors import RecipeError, RunFailed, UsageError
    from dlcli.runtime import watch_for_torch
    from rich.markup import escape

    watch_for_torch()  # before any command imports torch

    from dlcli.report.console import err_console

    try:
        app()
    except (RecipeError, UsageError) as e:
        err_console().print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True)
        sys.exit(2)
    except RunFailed as e:
        if state["debug"]:
            raise
        err_console().print(f"[bold red]failed:[/] {escape(str(e))}", soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # an unexpected error is a failed run: one line, --debug for the rest
        if state["debug"]:
            raise
        err_console().print(f"[bold red]failed:[/] {type(e).__name__}: {escape(str(e))} (run with --debug for the traceback)", soft_wrap=True)
        sys.exit(1)
