"""`dlcli lock` and `dlcli check`: train a recipe the way a CI check does, then lock or compare.

Both train with deterministic algorithms unless the recipe says otherwise, so a lock and the
checks against it run under the same rules. Everything that can be known to be wrong before
training (the lock, where the lock or report goes) is checked first: a CI job should not spend
a full re-training to learn that its input was unusable.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Optional

from dlcli.errors import UsageError
from dlcli.repro import lock as locks
from dlcli.repro.compare import Verdict, compare


def train_for_check(recipe: Path, runs_root: Path, reporter: Any) -> Path:
    from dlcli.workflows.train import run_training

    return Path(run_training(recipe, None, [], runs_root, reporter, deterministic=True)["run"])


def ensure_writable(path: Path, flag: str, example: str) -> None:
    """Exit 2 now when a file given as `flag` could not be written after training: it is a folder
    or a device, or its folder (created here when missing) is not a writable directory."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a directory; give a file path such as {path / example}")
    if path.exists() and not path.is_file():
        raise UsageError(f"{flag} {path} is not a regular file; give a file path")
    existing = next(p for p in path.parents if p.exists())  # "." or "/" at the latest
    if not existing.is_dir():
        raise UsageError(f"{flag} {path}: {existing} is not a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{flag} {path}: cannot create {path.parent} ({e.strerror or e})") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: {path.parent} is not writable")


def lock_recipe_or_run(target: Path, out: Optional[Path], runs_root: Path, reporter: Any) -> tuple[Path, dict]:
    """Lock a run directory as it is, or train the recipe first; returns (lock path, lock)."""
    from dlcli.engine.rundir import open_run

    if Path(target).is_dir():
        run = open_run(target)
        recipe = locks.recipe_of_run(run, locks.completed_record(run))
        if out is None and recipe is None:
            raise UsageError(f"{target}: its recipe file is gone, so there is nowhere to put the lock by default; give --out FILE")
        path = lock_destination(out, recipe)
    else:
        recipe = Path(target)
        if not recipe.is_file():  # before lock_destination, which would create the recipe's folder
            raise UsageError(f"recipe not found: {recipe}")
        path = lock_destination(out, recipe)
        run = train_for_check(recipe, runs_root, reporter)
    lock = locks.lock_from_run(run)
    locks.write_lock(path, lock)
    return path, lock


def lock_destination(out: Optional[Path], recipe: Optional[Path]) -> Path:
    """Where the lock goes (--out, or beside the recipe), checked writable before any training."""
    default = locks.default_path(recipe) if recipe is not None else None
    path = Path(out) if out else default
    ensure_writable(path, "--out" if out else "the lock file", default.name if default else "run.lock.json")
    return path


def lock_path_of(recipe: Path, lock_path: Optional[Path]) -> Path:
    """--lock, or <recipe>.lock.json beside the recipe."""
    return Path(lock_path) if lock_path else locks.default_path(recipe)


def recipe_name(recipe: Path) -> str:
    """The recipe's `name:` (its file stem by default), for a report about a recipe that may not load."""
    from dlcli.recipe.compose import compose

    try:
        name = compose(Path(recipe))[0].get("name")
    except Exception:  # noqa: BLE001  a recipe too broken to compose is named by its file
        name = None
    return name if isinstance(name, str) and name.strip() else Path(recipe).stem


def check_section(view: dict) -> Any:
    from dlcli.recipe.schema import Check

    return Check.model_validate(view["check"]) if view.get("check") else None


def run_check(recipe: Path, lock_path: Optional[Path], forced: Optional[str], runs_root: Path,
              reporter: Any) -> tuple[Verdict, dict]:
    """Re-run `recipe` and hold it to its lock; returns the verdict and where it ran."""
    lock_path = lock_path_of(recipe, lock_path)
    lock = locks.read_lock(lock_path)  # a missing or broken lock is exit 2 before any training
    started = time.perf_counter()
    run = train_for_check(recipe, runs_root, reporter)
    now = locks.lock_from_run(run)
    verdict = compare(lock, now, check_section(now["recipe"]["resolved"]), forced)
    return verdict, {"recipe": str(recipe), "name": now["recipe"]["name"], "lock": str(lock_path), "run": str(run),
                     "seconds": round(time.perf_counter() - started, 3)}
