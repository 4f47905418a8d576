"""`dlcli tune`'s study running: create or resume a study, run trials in worker processes.

Workers are separate processes sharing the study through its storage (a journal file by
default, any Optuna RDB URL with --storage), so the same command on several machines with the
same --storage and --study cooperates on one study. What a trial trains is the plan's `train`
(workflows/tune.py builds the plan).
"""
from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from dlcli.errors import UsageError
from dlcli.search import storage as storages
from dlcli.search import study as st
from dlcli.search.journal import repair
from dlcli.search.trial import TrainTrial, TrialSetup, run_trial


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
    train: TrainTrial  # a module-level function: it crosses into the workers by name


def worker_main(plan: Plan, index: int, n_trials: int, threads: int) -> None:
    """A worker process: its own sampler seed (seed + index), `n_trials` trials at most."""
    import torch

    torch.set_num_threads(threads)
    study = st.load(plan.name, plan.storage, plan.setup.search, plan.seed + index, plan.setup.epochs)
    study.optimize(lambda t: run_trial(t, plan.setup, plan.train), n_trials=n_trials, timeout=plan.timeout,
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


def threads_per_worker(workers: int) -> int:
    import os

    return max(1, (os.cpu_count() or 1) // workers)


def start_workers(plan: Plan, counts: list[int]) -> list[Any]:
    """Worker processes 1, 2, ... (this process is worker 0), each with `counts[i - 1]` trials."""
    ctx = mp.get_context("spawn")  # fork would share torch's thread pools and locks
    procs = [ctx.Process(target=worker_main, args=(plan, i, n, threads_per_worker(plan.workers)),
                         name=f"dlcli-tune-{i}") for i, n in enumerate(counts, start=1)]
    for p in procs:
        p.start()
    return procs


def wait(procs: list[Any], study: Any, on_progress: Callable[[Any], None]) -> None:
    """Poll the study until the other workers finish."""
    while any(p.is_alive() for p in procs):
        on_progress(study)
        time.sleep(0.5)
    on_progress(study)


def stop(procs: list[Any]) -> None:
    """Ctrl-C: their running trials stay RUNNING and the next run of the command re-queues them."""
    for p in procs:
        p.terminate()
    for p in procs:
        p.join()


def execute(plan: Plan, on_progress: Callable[[Any], None], note: Callable[[str], None] = lambda _: None) -> Any:
    """Create or resume the study and run this command's share: this process is worker 0 (with
    one worker the search is reproducible), the others are spawned; returns the study.
    `note` hears what was repaired on the way (a journal cut by a crash)."""
    if st.is_journal(plan.storage):  # before any worker appends to it
        repair(Path(plan.storage), note)
    storage = st.open_storage(plan.storage)
    study = st.load(plan.name, plan.storage, plan.setup.search, plan.seed, plan.setup.epochs, create=True,
                    storage=storage)
    st.recover_stale(study, storage)
    counts = [n for n in shares(max(0, plan.trials - st.used_budget(study)), plan.workers) if n > 0]
    if not counts:
        return study
    import torch

    procs, threads = start_workers(plan, counts[1:]), torch.get_num_threads()
    torch.set_num_threads(threads_per_worker(plan.workers) if procs else threads)  # share the cores
    try:
        study.optimize(lambda t: run_trial(t, plan.setup, plan.train), n_trials=counts[0], timeout=plan.timeout,
                       catch=(Exception,), callbacks=[budget_guard(plan.trials), lambda s, t: on_progress(s)])
        wait(procs, study, on_progress)
    except KeyboardInterrupt:
        stop(procs)
        raise
    finally:
        torch.set_num_threads(threads)
    return study


def check_flags(trials: Optional[int], workers: int, storage: Optional[str], study: Optional[str]) -> None:
    """Exit 2 for flags that could only fail later, or write where they should not."""
    if trials is not None and trials < 1:
        raise UsageError(f"--trials must be at least 1, got {trials}")
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if storage is not None:
        storages.check(storage)
    if study is not None:
        check_study_name(study, "--study")


def check_study_name(name: str, what: str) -> None:
    """A study name is one folder right under --studies-dir: `../x` or `a/b` would land elsewhere."""
    if name.strip() in ("", ".", "..") or any(c in name for c in ("/", "\\", "\0")):
        raise UsageError(f"{what} {name!r} cannot name a study folder under --studies-dir: a study name has "
                         "no '/' or '\\' and is not empty, '.' or '..' (e.g. --study digits-cnn-2)")
