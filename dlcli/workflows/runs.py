"""A finished run loaded from its folder alone (recipe.yaml, splits.json, its checkpoint), then
evaluated (`dlcli eval`) or exported (workflows/export.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from dlcli.engine import checkpoint, rundir
from dlcli.errors import UsageError

SPLITS = ("train", "val", "test")
NO_SPLIT = ("its checkpoints are intact, but without the saved split no data can be told apart from the training "
            "data; train the recipe again")
EVAL_GOES_ON = "eval reads only recipe.yaml, splits.json and the checkpoint, so it carries on"


def load_run(run: Path, tag: Optional[str] = None):
    """(run dir, session with the `tag` weights loaded) of a run directory; by default the
    weights its recipe evaluates (train.eval: best or last)."""
    from dlcli.engine.setup import build_fit
    from dlcli.recipe.check import load_recipe

    run = rundir.open_run(run)
    indices = rundir.read_splits(run, NO_SPLIT)
    resolved = load_recipe(run / "recipe.yaml")
    tag = tag or resolved.recipe.train.eval
    path = checkpoint.weights_path(run, tag)
    if not path.is_file():
        raise UsageError(f"{run} has no {tag} checkpoint ({path} is missing){unfinished(run, tag)}")
    session = build_fit(resolved, indices, for_training=False)
    still = f"`dlcli train --resume {run}` saves it again from the last training state" if tag == "last" else None
    checkpoint.load_weights(run, tag, session.model, still or checkpoint.DAMAGED_WEIGHTS)
    return run, session


def unfinished(run: Path, tag: str) -> str:
    """Why a checkpoint may be missing: the last epoch's weights are saved when training ends."""
    if tag != "last":
        return ""
    return (f": its recipe evaluates the last epoch's weights (train.eval: last), saved when training ends; "
            f"finish the run with `dlcli train --resume {run}`")


def record_warnings(run: Path) -> list[str]:
    """What is wrong with run.json, which eval does not need (it goes on, and says so)."""
    try:
        rundir.read_record(run, EVAL_GOES_ON)
    except UsageError as e:
        return [str(e)]
    return []


def evaluate_run(run: Path, split: str = "test") -> dict:
    """`dlcli eval`: the run's evaluated weights scored on one of its own splits, with what is wrong
    with its run.json (which eval does not need) as warnings."""
    if split not in SPLITS:
        raise UsageError(f"unknown split '{split}': use train, val or test")
    run, s = load_run(run)
    if not s.data.size(split):
        raise UsageError(f"the {split} split of {run} is empty (see data.split in its recipe)")
    s.metric_names = list(dict.fromkeys(s.metric_names + list(s.task.eval_extras)))
    result = {"run": str(run), "split": split, "samples": s.data.size(split), "classes": s.data.dataset.info.classes,
              "weights": s.resolved.recipe.train.eval, "metrics": s.evaluate(split)}
    warnings = record_warnings(run)
    return {**result, "warnings": warnings} if warnings else result
