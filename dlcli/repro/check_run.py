"""`dlcli lock` and `dlcli check`: train a recipe the way a CI check does, then lock or compare.

Both train with deterministic algorithms unless the recipe says otherwise, so a lock and the
checks against it run under the same rules.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

from dlcli.errors import UsageError
from dlcli.repro import lock as locks
from dlcli.repro.compare import Verdict, compare


def train_for_check(recipe: Path, runs_root: Path, reporter: Any) -> Path:
    from dlcli.engine.train import run_training

    return Path(run_training(recipe, None, [], runs_root, reporter, deterministic=True)["run"])


def lock_recipe_or_run(target: Path, out: Optional[Path], runs_root: Path, reporter: Any) -> tuple[Path, dict]:
    """Lock a run directory as it is, or train the recipe first; returns (lock path, lock)."""
    if Path(target).is_dir():
        run = Path(target)
        recipe = locks.recipe_of_run(run, locks.completed_record(run))
        if out is None and recipe is None:
            raise UsageError(f"{target}: its recipe file is gone, so there is nowhere to put the lock by default; give --out FILE")
    else:
        recipe = Path(target)
        run = train_for_check(recipe, runs_root, reporter)
    lock = locks.lock_from_run(run)
    path = Path(out) if out else locks.default_path(recipe)
    locks.write_lock(path, lock)
    return path, lock


def check_section(view: dict) -> Any:
    from dlcli.recipe.schema import Check

    return Check.model_validate(view["check"]) if view.get("check") else None


def run_check(recipe: Path, lock_path: Optional[Path], forced: Optional[str], runs_root: Path,
              reporter: Any) -> tuple[Verdict, dict]:
    """Re-run `recipe` and hold it to its lock; returns the verdict and where it ran."""
    lock_path = Path(lock_path) if lock_path else locks.default_path(recipe)
    lock = locks.read_lock(lock_path)  # a missing or broken lock is exit 2 before any training
    started = time.perf_counter()
    run = train_for_check(recipe, runs_root, reporter)
    now = locks.lock_from_run(run)
    verdict = compare(lock, now, check_section(now["recipe"]["resolved"]), forced)
    return verdict, {"recipe": str(recipe), "lock": str(lock_path), "run": str(run),
                     "seconds": round(time.perf_counter() - started, 3)}
