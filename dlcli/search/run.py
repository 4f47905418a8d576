"""`dlcli tune`: create or resume a study, run trials in worker processes, then summarise.

Workers are separate processes sharing the study through its storage (a journal file by
default, any Optuna RDB URL with --storage), so the same command on several machines with the
same --storage and --study cooperates on one study.
"""
from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from dlcli.errors import UsageError
from dlcli.search import study as st
from dlcli.search.trial import TrialSetup, run_trial


@dataclass
class Plan:
    """One `dlcli tune` invocation: the study, where it lives, and this command's share of work."""

    setup: TrialSetup
    name: str
    storage: str
    seed: int
    trials: int
    workers: int
    timeout: Optional[float]


def worker_main(plan: Plan, index: int, n_trials: int, threads: int) -> None:
    """A worker process: its own sampler seed (seed + index), `n_trials` trials at most."""
    import torch

    torch.set_num_threads(threads)
    study = st.load(plan.name, plan.storage, plan.setup.search, plan.seed + index, plan.setup.epochs)
    study.optimize(lambda t: run_trial(t, plan.setup), n_trials=n_trials, timeout=plan.timeout,
                   catch=(Exception,), callbacks=[budget_guard(plan.trials)], gc_after_trial=True)


def budget_guard(trials: int) -> Callable[[Any, Any], None]:
    """Stop once the study as a whole used its budget: commands on other machines share it."""

    def guard(study: Any, _trial: Any) -> None:
        if st.used_budget(study) >= trials:
            study.stop()

    return guard


def shares(remaining: int, workers: int) -> list[int]:
    """Split the remaining trials over the workers: 7 over 2 -> [4, 3]."""
    return [remaining // workers + (1 if i < remaining % workers else 0) for i in range(workers)]


def start_workers(plan: Plan, remaining: int) -> list[Any]:
    import os

    threads = max(1, (os.cpu_count() or 1) // plan.workers)
    ctx = mp.get_context("spawn")  # fork would share torch's thread pools and locks
    procs = [ctx.Process(target=worker_main, args=(plan, i, n, threads), name=f"dlcli-tune-{i}")
             for i, n in enumerate(shares(remaining, plan.workers)) if n > 0]
    for p in procs:
        p.start()
    return procs


def wait(procs: list[Any], study: Any, on_progress: Callable[[Any], None]) -> None:
    """Poll the study while the workers run; Ctrl-C stops them (their trials stay RUNNING and
    are recovered by the next run of the same command)."""
    try:
        while any(p.is_alive() for p in procs):
            on_progress(study)
            time.sleep(1.0)
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        raise
    finally:
        for p in procs:
            p.join()
    on_progress(study)


def execute(plan: Plan, on_progress: Callable[[Any], None]) -> Any:
    """Create or resume the study and run this command's share; returns the study."""
    study = st.load(plan.name, plan.storage, plan.setup.search, plan.seed, plan.setup.epochs, create=True)
    st.recover_stale(study)
    remaining = max(0, plan.trials - st.used_budget(study))
    if remaining and plan.workers == 1:  # in-process: reproducible, and Ctrl-C is immediate
        study.optimize(lambda t: run_trial(t, plan.setup), n_trials=remaining, timeout=plan.timeout,
                       catch=(Exception,), callbacks=[lambda s, t: on_progress(s)])
    elif remaining:
        wait(start_workers(plan, remaining), study, on_progress)
    return study


def make_plan(recipe: Path, overrides: list[str], trials: Optional[int], workers: int, storage: Optional[str],
              study: Optional[str], studies_dir: Path) -> Plan:
    from dlcli.recipe.check import load_recipe

    resolved = load_recipe(recipe, overrides)
    search = resolved.recipe.search
    if search is None or not search.space:
        raise UsageError(f"{recipe} has no search space: add `search: {{space: {{...}}}}` (see docs/search.md)")
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    name = study or resolved.recipe.name
    study_dir = Path(studies_dir) / name
    setup = TrialSetup(Path(recipe).resolve(), list(overrides), search, study_dir, resolved.recipe.train.epochs)
    seed = resolved.recipe.seed if search.seed is None else search.seed
    return Plan(setup, name, storage or st.default_storage(study_dir), seed, trials or search.trials or 20,
                workers, search.timeout)
