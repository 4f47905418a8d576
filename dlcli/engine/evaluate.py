"""Evaluate a finished run from its folder alone: recipe.yaml, splits.json, best checkpoint."""
from __future__ import annotations

from pathlib import Path

from dlcli.engine import checkpoint
from dlcli.errors import UsageError
from dlcli.repro import rundir

SPLITS = ("train", "val", "test")


def load_run(run: Path, tag: str = "best"):
    """(run dir, session with the `tag` weights loaded) of a run directory."""
    from dlcli.engine.setup import build_session
    from dlcli.recipe.check import load_recipe

    run = rundir.open_run(run)
    if not checkpoint.weights_path(run, tag).is_file():
        raise UsageError(f"{run} has no {tag} checkpoint ({checkpoint.weights_path(run, tag)} is missing)")
    session = build_session(load_recipe(run / "recipe.yaml"), rundir.read_splits(run), for_training=False)
    checkpoint.load_weights(run, tag, session.model)
    return run, session


def evaluate_run(run: Path, split: str = "test") -> dict:
    if split not in SPLITS:
        raise UsageError(f"unknown split '{split}': use train, val or test")
    run, s = load_run(run)
    if not s.data.size(split):
        raise UsageError(f"the {split} split of {run} is empty (see data.split in its recipe)")
    metric_names = list(dict.fromkeys(s.metric_names + (["confusion_matrix"] if s.resolved.task == "classification" else [])))
    s.metric_names = metric_names
    return {"run": str(run), "split": split, "samples": s.data.size(split), "classes": s.data.dataset.info.classes,
            "metrics": s.evaluate(split)}
