"""dlcli check: re-run a recipe and compare it with its lock; exit 1 on drift (for CI)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from dlcli.cli.options import Json, RecipeArg, RunsDir

EXAMPLE = "Example: dlcli check recipes/digits-ci.yaml --junit reports/check.xml   |   dlcli check recipes/digits-ci.yaml --tolerant --json"
SHOWN_CHANGES = 10


def check(
    recipe: RecipeArg,
    lock: Annotated[Optional[Path], typer.Option("--lock", help="Lock file (default: <recipe>.lock.json beside the recipe).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Demand identical weights and loss trace even if the environment differs.")] = False,
    tolerant: Annotated[bool, typer.Option("--tolerant", help="Hold metrics to the recipe's check: tolerances even if the environment matches.")] = False,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="Also write JUnit XML to this file.")] = None,
    runs_dir: RunsDir = Path("runs"),
    json: Json = False,
) -> None:
    """Re-run a recipe and compare with its lock: strict when the environment matches, tolerant otherwise."""
    from dlcli.errors import RunFailed
    from dlcli.report.console import TrainReporter, print_json
    from dlcli.report.junit import Started, junit_xml
    from dlcli.workflows.check import ensure_writable, run_check

    started = Started()
    if junit:
        ensure_writable(junit, "--junit", f"{recipe.stem}.xml")  # first: every later exit writes a report
    try:
        verdict, where = run_check(recipe, lock, mode_flag(strict, tolerant), runs_dir, TrainReporter(quiet=json))
    except Exception as e:
        if junit:
            report_error(junit, e, recipe, lock, started)
        raise
    unwritten = write_report(junit, junit_xml(verdict, where, started)) if junit else None
    if json:
        print_json({**verdict.as_dict(), **where})
    else:
        describe(verdict, where)
    if unwritten:  # after the verdict: a full training's result is shown even when its report is lost
        raise RunFailed(unwritten)
    if not verdict.passed:
        raise typer.Exit(1)


def mode_flag(strict: bool, tolerant: bool) -> Optional[str]:
    from dlcli.errors import UsageError

    if strict and tolerant:
        raise UsageError("--strict and --tolerant exclude each other")
    return "strict" if strict else "tolerant" if tolerant else None


def write_report(path: Path, text: str) -> Optional[str]:
    """Write the JUnit report; what went wrong, or None. (Its folder was checked before training,
    so this fails only when the disk does: full, or the folder removed meanwhile.)"""
    from dlcli.fsio import write_atomic

    try:
        write_atomic(path, text)
    except OSError as e:
        return f"could not write the JUnit report {path}: {e.strerror or e}"
    return None


def report_error(path: Path, error: Exception, recipe: Path, lock: Optional[Path], started: Any) -> None:
    """The JUnit report of a check that gave no verdict; a failure to write it must not hide `error`."""
    from dlcli.report.console import err_console
    from dlcli.report.junit import junit_error
    from dlcli.workflows.check import lock_path_of, recipe_name

    where = {"recipe": str(recipe), "name": recipe_name(recipe), "lock": str(lock_path_of(recipe, lock))}
    unwritten = write_report(path, junit_error(error, where, started))
    if unwritten:
        err_console().print(f"warning: {unwritten}", soft_wrap=True, markup=False)


def short(value: Any) -> str:
    from dlcli.report.console import fmt_value

    text = fmt_value(value) if isinstance(value, float) else str(value)
    return text[:16] + "…" if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text


def drift_table(verdict: Any, where: dict) -> Any:
    from rich.table import Table

    table = Table(title=f"check of run {where['run']} ({where['seconds']:.1f} s)")
    for col in ("field", "locked", "now", "tolerance", "status"):
        table.add_column(col)
    style = {"pass": "green", "drift": "bold red", "info": "dim"}
    for r in verdict.rows:
        table.add_row(r.field, short(r.locked), short(r.now), r.tolerance, f"[{style[r.status]}]{r.status}[/]")
    return table


def describe(verdict: Any, where: dict) -> None:
    from rich.markup import escape

    from dlcli.report.console import console

    con = console()
    con.print(f"{where['recipe']} vs {where['lock']}: {verdict.mode} check, {escape(verdict.mode_reason)}", soft_wrap=True)
    for field, locked, now in verdict.environment:
        con.print(f"  environment {field}: locked {escape(str(locked))}, now {escape(str(now))}", soft_wrap=True)
    if verdict.recipe_changes:
        con.print(f"the recipe changed since the lock ({len(verdict.recipe_changes)} keys); relock with "
                  f"`dlcli lock {where['recipe']}` if that is intended:", soft_wrap=True)
        for change in verdict.recipe_changes[:SHOWN_CHANGES]:
            con.print(f"  {escape(change)}", soft_wrap=True)
    if con.is_terminal:
        con.print(drift_table(verdict, where))
    else:  # CI logs: one greppable line per field, values in full
        con.print(f"check of run {where['run']} ({where['seconds']:.1f} s)")
        for r in verdict.rows:
            con.print(f"{r.status.upper():5}  {r.field}: locked {r.locked}, now {r.now}, tolerance {r.tolerance}",
                      soft_wrap=True, markup=False)
    drifts = verdict.drifts
    con.print(f"DRIFT: {len(drifts)} of {len(verdict.rows)} fields differ from the lock" if drifts
              else f"PASS: {len(verdict.rows)} fields checked")
