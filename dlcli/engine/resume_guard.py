"""What `dlcli train --resume RUN --set ...` may change, checked before anything runs or is written.

A resume restores weights, optimizer, schedule, RNG and loop state saved for one recipe; an override
that changes what they belong to is refused up front (exit 2), naming each key and why. This compares
two resolved recipes (the saved one and the one with the overrides); workflows/train.py loads them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

# What `--resume --set` may change: how long, where and how fast the run trains, and what it
# reports. Everything else (the network, the data and its split, the seed, the task, the optimizer,
# the schedule, the batch size, the loss) either does not load from the saved state or would
# quietly make the resumed run a different one than its record describes.
RESUMABLE = ("train.epochs", "train.early_stopping", "train.eval", "train.device", "train.threads",
             "train.precision", "train.deterministic", "train.compile", "train.channels_last",
             "train.eval_batch_size", "train.metrics", "description", "export", "check", "search")
HORIZON_SCHEDULES = ("cosine", "onecycle")  # their saved state fixes the total number of steps


def refuse_changes(saved: Any, resolved: Any, overrides: list[str]) -> None:
    """Exit 2, naming each key, when --set changes what the saved state belongs to."""
    from dlcli.errors import Problem, RecipeError

    changed = [p for p in changed_paths(saved.recipe.model_dump(), resolved.recipe.model_dump()) if not resumable(p)]
    problems = [Problem(path, f"a resume cannot change this: {why_fixed(path)}; train the recipe again for a new run"
                        + (f" (a resume may change {', '.join(RESUMABLE)})" if i == 0 else ""),
                        where=cause(path, overrides, saved.path)) for i, path in enumerate(changed)]
    problems += horizon_problems(saved, resolved, overrides) + monitor_problems(saved, resolved, overrides)
    if problems:
        raise RecipeError(problems, str(resolved.path))


def why_fixed(path: tuple) -> str:
    head = path[0]
    if head == "model":
        return "the saved weights belong to the network as it was"
    if head in ("data", "seed", "task"):
        return "the run was split, initialised and trained from the data and seed as they were"
    if head == "vars":
        return "vars are already substituted into the run's recipe.yaml, so it would change nothing"
    if head == "train":
        return "the saved optimizer, schedule and loop state belong to the training as it was"
    return "the run's record describes it as it was"


def changed_paths(old: Any, new: Any, at: tuple = ()) -> list[tuple]:
    """Key paths where two documents differ, as deep as both sides are mappings or equal-length lists."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [p for k in dict.fromkeys([*old, *new]) for p in changed_paths(old.get(k), new.get(k), at + (k,))]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [p for i, (a, b) in enumerate(zip(old, new)) for p in changed_paths(a, b, at + (i,))]
    return [] if old == new else [at]


def resumable(path: tuple) -> bool:
    dotted_path = ".".join(map(str, path))
    return any(dotted_path == k or dotted_path.startswith(k + ".") for k in RESUMABLE)


def cause(path: tuple, overrides: list[str], recipe: Path) -> str:
    """The --set that changed `path` (one on it, above it or below it); else the recipe file."""
    from dlcli.recipe.compose import parse_override

    for text in overrides:
        key = parse_override(text)[0]
        n = min(len(key), len(path))
        if tuple(key[:n]) == tuple(path[:n]):
            return f"--set {text}"
    return str(recipe)


def horizon_problems(saved: Any, resolved: Any, overrides: list[str]) -> list:
    """More epochs than a cosine or one-cycle schedule was laid out for: its restored state would
    crash past its last step (one-cycle) or train on at its final, tiny rate (cosine)."""
    from dlcli.components import split_component
    from dlcli.errors import Problem

    before, after = saved.recipe.train.epochs, resolved.recipe.train.epochs
    name = split_component(saved.recipe.train.schedule)[0]
    if after <= before or name not in HORIZON_SCHEDULES:
        return []
    return [Problem(("train", "epochs"), f"the {name} schedule of this run was laid out for {before} epochs and "
                    f"resumes as saved, so it cannot be extended to {after}; train the recipe again with "
                    f"--set train.epochs={after}", where=cause(("train", "epochs"), overrides, saved.path))]


def monitor_problems(saved: Any, resolved: Any, overrides: list[str]) -> list:
    """A different early-stopping monitor: the saved best value is the old metric's."""
    from dlcli.errors import Problem

    before, after = monitor_of(saved.recipe), monitor_of(resolved.recipe)
    if before == after:
        return []
    path = ("train", "early_stopping", "monitor")
    return [Problem(path, f"the saved best value is {before}'s, so a resume cannot monitor {after}; change patience "
                    f"or min_delta, or train the recipe again", where=cause(path, overrides, saved.path))]


def monitor_of(recipe: Any) -> str:
    """What picks the best epoch (Session.monitor, from the recipe alone)."""
    es = recipe.train.early_stopping
    if es is not None:
        return es.monitor
    return "val.loss" if recipe.data.split.val > 0 else "train.loss"
