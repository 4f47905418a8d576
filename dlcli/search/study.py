"""The Optuna side: storage, sampler, pruner, directions, and the study they make."""
from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path
from typing import Any

from dlcli.errors import UsageError
from dlcli.recipe.schema import Search
from dlcli.search import storage as storages


def default_storage(study_dir: Path) -> str:
    """An Optuna journal file in the study directory: no server, safe for several processes."""
    return str(Path(study_dir) / "study.journal")


def is_journal(url: str) -> bool:
    return storages.scheme(url) is None


def open_storage(url: str) -> Any:
    """A journal file path, or any SQLAlchemy URL (postgresql://, mysql://, sqlite:///); exit 2
    when it cannot be opened (an unwritable folder, a database that refuses the connection)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if is_journal(url):
        try:
            Path(url).parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(url))
        except OSError as e:
            raise UsageError(f"cannot open the journal {url}: {e.strerror or e}") from None
    try:
        return _rdb_storage(url)
    except Exception as e:  # SQLAlchemy's OperationalError and friends: say why, not how
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise UsageError(f"cannot open the storage {storages.masked(url)}: {storages.masked(reason)}") from None


def _rdb_storage(url: str) -> Any:
    import optuna

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


def load(name: str, url: str, search: Search, seed: int, epochs: int, create: bool = False,
         storage: Any = None) -> Any:
    """The study `name` in `url` (or in an already opened `storage`), created when asked."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are reported by dlcli, with reasons
    storage = storage or open_storage(url)
    sampler, pruner = make_sampler(search, seed), make_pruner(search, epochs)
    if not create:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    study = optuna.create_study(storage=storage, study_name=name, sampler=sampler, pruner=pruner,
                                directions=directions(search), load_if_exists=True)
    name_metrics(study, search)
    return study


def name_metrics(study: Any, search: Search) -> None:
    """Label the study's values with the objective metrics, for Optuna's dashboard and plots
    (which say "Objective 0" otherwise); a study named before keeps its names."""
    import optuna

    names = [o.metric for o in search.objectives]
    if study.metric_names is None and len(names) == len(study.directions):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)


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


def recover_stale(study: Any, storage: Any) -> list[int]:
    """Trials cut off by Ctrl-C or a killed worker of this machine: mark them interrupted and
    queue their parameters once more, so a resumed search redoes only what was cut off.
    `storage` is the one the study was loaded from: its public methods reach other workers' trials."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    requeued = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
    queued = []
    for t in trials:
        if t.state == TrialState.RUNNING and owned_by_dead_local_worker(t):
            fail_interrupted(study, storage, t.number)
        elif not (t.state == TrialState.FAIL and t.user_attrs.get("interrupted")):
            continue
        if t.number not in requeued:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)
            queued.append(t.number)
    return queued


def fail_interrupted(study: Any, storage: Any, number: int) -> None:
    """Fail a trial whose worker died: reasons first, since a finished trial takes no more attributes."""
    from optuna.trial import TrialState

    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), number)
    storage.set_trial_user_attr(trial_id, "interrupted", True)
    storage.set_trial_user_attr(trial_id, "error", "interrupted: its worker stopped")
    study.tell(number, state=TrialState.FAIL)


def owned_by_dead_local_worker(t: Any) -> bool:
    host, _, pid = str(t.user_attrs.get("worker", "")).rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))


def used_budget(study: Any) -> int:
    """Finished trials that count toward `trials`: an interrupted trial was queued again, so
    only its re-run counts."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
    return sum(1 for t in done if not t.user_attrs.get("interrupted"))
