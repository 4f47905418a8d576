"""`dlcli train`: a recipe file (or a run to resume) -> a trained run -> its export when asked."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional


def run_training(recipe: Optional[Path], resume_dir: Optional[Path], overrides: list[str], runs_root: Path,
                 reporter: Any, run_dir: Optional[Path] = None, callbacks: Optional[list] = None,
                 deterministic: bool = False) -> dict:
    """Train; then, when the recipe asks for export.onnx, export and gate it like `dlcli export`.
    `deterministic` is the default where the recipe leaves train.deterministic unset; `callbacks`
    are added after the engine's (a search's pruner). Under torchrun every rank trains; rank 0
    alone writes, reports and exports."""
    from dlcli.engine import train as engine

    if resume_dir:
        from dlcli.engine import rundir

        run = rundir.open_run(resume_dir)
        run, fit, state = engine.resume(run, resume_recipe(run, overrides), bool(overrides))
    else:
        from dlcli.recipe.check import load_recipe

        run, fit, state = engine.start(load_recipe(recipe, overrides), runs_root, run_dir, deterministic)
    try:
        if not fit.dist.main:
            from dlcli.report.console import TrainReporter

            reporter = TrainReporter(quiet=True)
        record = engine.train(run, fit, state, reporter, callbacks)
    finally:
        fit.dist.close()
    if fit.dist.main and wants_plots(fit.resolved.recipe.train.plots) and record.get("status") == "completed":
        record = {**record, "plots": draw(run, fit)}
    spec = fit.resolved.recipe.export
    if fit.dist.main and spec is not None and spec.onnx is not None:
        from dlcli.workflows.export import export_run

        record = {**record, "export": export_run(run)}
    return record


def resume_recipe(run: Path, overrides: list[str]) -> Any:
    """The run's recipe with the overrides a resume may take; exit 2 naming any other."""
    from dlcli.engine.resume_guard import refuse_changes
    from dlcli.recipe.check import load_recipe

    resolved = load_recipe(run / "recipe.yaml", overrides)
    if overrides:
        refuse_changes(load_recipe(run / "recipe.yaml"), resolved, overrides)
    return resolved


def wants_plots(setting: Optional[bool]) -> bool:
    import os

    return setting if setting is not None else os.environ.get("DLCLI_PLOTS", "1") not in ("0", "off", "false")


def draw(run: Path, fit: Any) -> list[str]:
    """plots/curves.png (a curve per named loss and metric) and the task's pictures; a figure that
    cannot be drawn is said on stderr and costs the run nothing (its record is written already)."""
    from dlcli.report import plots
    from dlcli.report.console import err_console
    from dlcli.repro.lock import epoch_records

    folder = run / "plots"
    try:
        fit.model.to("cpu").eval()
        paths = plots.curves(epoch_records(run / "metrics.jsonl"), folder) + fit.task.pictures(fit, folder)
    except Exception as e:  # noqa: BLE001 - a picture is never worth a trained run
        err_console().print(f"warning: plots/ is incomplete: {type(e).__name__}: {e}", soft_wrap=True)
        return []
    return [str(p) for p in paths]
