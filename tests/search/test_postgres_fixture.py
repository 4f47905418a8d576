"""The PostgreSQL fixture carries what `dlcli tune` workers need: one study, several processes writing to it."""
from __future__ import annotations

import multiprocessing as mp
import os

import optuna

WORKERS, TRIALS_EACH = 2, 3


def _worker(url: str, start_together) -> None:
    """One Optuna worker in its own process, as `dlcli tune --workers N` will run them."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="x", storage=url)

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("pid", os.getpid())  # proves which process wrote each trial
        return trial.suggest_float("x", -1.0, 1.0) ** 2

    start_together.wait(timeout=60)  # both workers race on the storage, not one after the other
    study.optimize(objective, n_trials=TRIALS_EACH)


def test_two_processes_share_one_study(fresh_postgres_db):
    optuna.create_study(storage=fresh_postgres_db, study_name="x")
    ctx = mp.get_context("spawn")  # what dlcli tune uses: no forked SQLAlchemy connections or torch state
    barrier = ctx.Barrier(WORKERS)
    procs = [ctx.Process(target=_worker, args=(fresh_postgres_db, barrier)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * WORKERS

    trials = optuna.load_study(study_name="x", storage=fresh_postgres_db).get_trials(deepcopy=False)
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * (WORKERS * TRIALS_EACH)
    assert sorted(t.number for t in trials) == list(range(WORKERS * TRIALS_EACH))
    pids = [t.user_attrs["pid"] for t in trials]
    assert sorted(pids.count(pid) for pid in set(pids)) == [TRIALS_EACH] * WORKERS
