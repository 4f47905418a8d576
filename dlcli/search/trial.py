"""One trial: sampled values -> a full training run in the study's trials/ folder -> objectives.

Runs inside a worker process. A pruned trial stops its run at the epoch the pruner says; a trial
that diverges or raises is recorded as failed with its reason, and the search goes on. The
training itself is passed in (workflows/tune.py's train_trial): search/ knows studies, not runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dlcli.recipe.schema import Search
from dlcli.search.study import worker_id


@dataclass
class TrialSetup:
    """What every trial of a study shares (picklable: it crosses into worker processes)."""

    recipe: Path
    overrides: list[str]
    search: Search
    study_dir: Path
    epochs: int
    extra: dict = field(default_factory=dict)

    @property
    def prunes(self) -> bool:
        return len(self.search.objectives) == 1 and self.search.objectives[0].metric != "params"


# (trial, setup) -> objective value(s): sample, train the trial's run, read its record. A function
# at a module's top level, so that a worker process unpickles it by name.
TrainTrial = Callable[[Any, TrialSetup], Any]


def objective_value(record: dict, metric: str) -> float:
    """"val.accuracy" -> the best checkpoint's val accuracy; "params" -> the parameter count."""
    if metric == "params":
        return float(record["parameters"])
    split, name = metric.split(".", 1)
    return float(record["metrics"][split][name])


def pruning_hook(trial: Any, metric: str):
    from dlcli.engine.loop import StopTraining

    def hook(record: dict) -> None:
        trial.report(record[metric], record["epoch"])
        if trial.should_prune():
            trial.set_user_attr("epochs", record["epoch"])
            raise StopTraining(f"pruned after epoch {record['epoch']} ({metric} {record[metric]:.4g})", "pruned")

    return hook


def run_trial(trial: Any, setup: TrialSetup, train: TrainTrial) -> Any:
    """The objective Optuna calls: value(s) of the run `train` trains, or TrialPruned, or an error
    whose reason the trial keeps (sampling included: a resumed study whose space was edited)."""
    import optuna

    from dlcli.engine.loop import StopTraining

    trial.set_user_attr("worker", worker_id())
    try:
        return train(trial, setup)
    except StopTraining as e:
        trial.set_user_attr("stop_reason", str(e))
        raise optuna.TrialPruned(str(e)) from None
    except KeyboardInterrupt:  # not the trial's fault: the next run of the command redoes it
        trial.set_user_attr("interrupted", True)
        trial.set_user_attr("error", "interrupted (Ctrl-C)")
        raise
    except Exception as e:  # recorded as a failed trial; the search goes on
        lines = [line.strip() for line in f"{type(e).__name__}: {e}".splitlines() if line.strip()]
        trial.set_user_attr("error", " | ".join(lines)[:500])
        raise
