"""The Optuna side: storage, sampler, pruner, directions, and the study they make."""
from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path
from typing import Any, Optional

from dlcli.recipe.schema import Search

def default_storage(study_dir: Path) -> str:
    """An Optuna journal file in the study directory: no server, safe for several processes."""
    return str(Path(study_dir) / "study.journal")


def is_journal(url: str) -> bool:
    return "://" not in url


def open_storage(url: str) -> Any:
    """A journal file path, or any SQLAlchemy URL (postgresql://, mysql://, sqlite:///)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if is_journal(url):
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(url))
    # a worker killed on another machine leaves a RUNNING trial: heartbeats let the others fail
    # it after the grace period and run its parameters again once
    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)  # optuna >= 4.9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        callback = {"heartbeat_stale_trial_callback": retry(max_retry=1)} if retry else \
            {"failed_trial_callback": optuna.storages.RetryFailedTrialCallback(max_retry=1)}
        return optuna.storages.RDBStorage(url, heartbeat_interval=20, grace_period=60, **callback)


def directions(search: Search) -> list[str]:
    from dlcli.tasks.metrics import direction

    return [o.direction or ("minimize" if o.metric == "params" else direction(o.metric)) for o in search.objectives]


def make_sampler(search: Search, seed: int) -> Any:
    import optuna

    from dlcli.search.samplers import samplers

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # qmc is "experimental"
    return samplers.get(search.sampler)().make(search, seed)


def make_pruner(search: Search, epochs: int) -> Any:
    from dlcli.search.pruners import pruners

    name = search.pruner or ("none" if len(search.objectives) > 1 else "median")
    return pruners.get(name)().make(epochs)


def load(name: str, url: str, search: Search, seed: int, epochs: int, create: bool = False) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are reported by dlcli, with reasons
    storage, sampler, pruner = open_storage(url), make_sampler(search, seed), make_pruner(search, epochs)
    if create:
        return optuna.create_study(storage=storage, study_name=name, sampler=sampler, pruner=pruner,
                                   directions=directions(search), load_if_exists=True)
    return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_stale(study: Any) -> list[int]:
    """Trials cut off by Ctrl-C or a killed worker of this machine: mark them interrupted and
    queue their parameters once more, so a resumed search redoes only what was cut off."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    requeued = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
    queued = []
    for t in trials:
        if t.state == TrialState.RUNNING and owned_by_dead_local_worker(t):
            study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
            study._storage.set_trial_user_attr(t._trial_id, "error", "interrupted: its worker stopped")
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        elif not (t.state == TrialState.FAIL and t.user_attrs.get("interrupted")):
            continue
        if t.number not in requeued:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)
            queued.append(t.number)
    return queued


def owned_by_dead_local_worker(t: Any) -> bool:
    host, _, pid = str(t.user_attrs.get("worker", "")).rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))


def used_budget(study: Any) -> int:
    """Finished trials that count toward `trials`: an interrupted trial was queued again, so
    only its re-run counts."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
    return sum(1 for t in done if not t.user_attrs.get("interrupted"))
