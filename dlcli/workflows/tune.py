"""`dlcli tune`: a recipe file -> a study plan whose trials each train a full run -> the study.

search/ runs the study (workers, storage, pruning, leaderboard) and knows no training; this
module reads the recipe and gives the plan what a trial trains (`train_trial`, a module-level
function, so that spawned workers unpickle it by name).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from dlcli.search.run import Plan
    from dlcli.search.trial import TrialSetup


def make_plan(recipe: Path, overrides: list[str], trials: Optional[int], workers: int, storage: Optional[str],
              study: Optional[str], studies_dir: Path) -> Plan:
    """The search.run.Plan of one `dlcli tune` invocation; exit 2 for flags or a recipe that
    could only fail later (no search space, a study name that is no folder name)."""
    from dlcli.errors import UsageError
    from dlcli.recipe.check import load_recipe
    from dlcli.search import study as st
    from dlcli.search.run import Plan, check_flags, check_study_name
    from dlcli.search.trial import TrialSetup

    check_flags(trials, workers, storage, study)
    resolved = load_recipe(recipe, overrides)
    search = resolved.recipe.search
    if search is None or not search.space:
        raise UsageError(f"{recipe} has no search space: add `search: {{space: {{...}}}}` (see docs/search.md)")
    name = resolved.recipe.name if study is None else study
    if study is None:
        check_study_name(name, "the recipe's name (the default study name; pass --study NAME)")
    study_dir = Path(studies_dir) / name
    setup = TrialSetup(Path(recipe).resolve(), list(overrides), search, study_dir, resolved.recipe.train.epochs)
    seed = resolved.recipe.seed if search.seed is None else search.seed
    return Plan(setup, name, storage or st.default_storage(study_dir), seed, trials or search.trials or 20,
                workers, search.timeout, train_trial)


def train_trial(trial: Any, setup: TrialSetup) -> Any:
    """Sample, train the trial's run under the study folder, and read its objective values."""
    from dlcli.engine.callbacks import EpochHook
    from dlcli.report.console import TrainReporter
    from dlcli.search.space import as_overrides, sample
    from dlcli.search.trial import objective_value, pruning_hook
    from dlcli.workflows.train import run_training

    params = sample(trial, setup.search.space)
    run = setup.study_dir / "trials" / f"{trial.number:04d}"
    trial.set_user_attr("run", str(run))
    metric = setup.search.objectives[0].metric
    pruner = [EpochHook(pruning_hook(trial, metric))] if setup.prunes else None
    record = run_training(setup.recipe, None, setup.overrides + as_overrides(params), run.parent,
                          TrainReporter(quiet=True), run_dir=run, callbacks=pruner)
    trial.set_user_attr("epochs", record["epochs_completed"])
    values = [objective_value(record, o.metric) for o in setup.search.objectives]
    return values[0] if len(values) == 1 else tuple(values)
