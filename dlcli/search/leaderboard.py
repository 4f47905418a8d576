"""What a study leaves behind: leaderboard.csv, best.yaml, importances, study.json."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Optional

from dlcli.fsio import write_atomic, write_json
from dlcli.recipe.yamlio import dump

IMPORTANCE_MIN_TRIALS = 5


def rows(study: Any, names: list[str]) -> list[dict]:
    """One row per trial, best first (finished before running, complete before pruned)."""
    out = []
    for t in study.get_trials(deepcopy=False):
        values = t.values or [None] * len(names)
        row = {"trial": t.number, "state": t.state.name.lower(), **dict(zip(names, values)),
               "epochs": t.user_attrs.get("epochs"), "seconds": _seconds(t), **t.params,
               "note": t.user_attrs.get("error") or t.user_attrs.get("stop_reason") or "", "run": t.user_attrs.get("run", "")}
        out.append(row)
    return sorted(out, key=lambda r: _rank(r, study, names))


def _seconds(t: Any) -> Optional[float]:
    return round(t.duration.total_seconds(), 2) if t.duration else None


def _rank(row: dict, study: Any, names: list[str]) -> tuple:
    order = {"complete": 0, "pruned": 1, "running": 2, "waiting": 3, "fail": 4}
    value = row.get(names[0])
    sign = -1 if study.directions[0].name == "MAXIMIZE" else 1
    return (order.get(row["state"], 5), sign * value if value is not None else 0, row["trial"])


def write_csv(path: Path, table: list[dict]) -> None:
    fields = list(dict.fromkeys(k for r in table for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    write_atomic(path, buf.getvalue())


def best_trials(study: Any) -> list[Any]:
    """The best trial, or the Pareto front for several objectives; [] before any completes."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return []
    return list(study.best_trials) if len(study.directions) > 1 else [study.best_trial]


def write_best(study_dir: Path, trial: Any, study_name: str) -> Optional[Path]:
    """best.yaml: the winning trial's resolved recipe, standalone (`dlcli train best.yaml`)."""
    from dlcli.recipe.yamlio import read

    run = Path(trial.user_attrs.get("run", ""))
    if not (run / "recipe.yaml").is_file():
        return None
    doc, _ = read(run / "recipe.yaml")
    doc.pop("search", None)  # the values are chosen: training it must not start another search
    doc["description"] = f"best of study {study_name}: trial {trial.number}, {trial.params}"
    write_atomic(Path(study_dir) / "best.yaml", dump(doc))
    return Path(study_dir) / "best.yaml"


def importances(study: Any) -> Optional[dict]:
    """fANOVA parameter importances once enough trials completed (single objective only)."""
    import optuna
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(study.directions) > 1 or len(complete) < IMPORTANCE_MIN_TRIALS or len(complete[0].params) < 2:
        return None
    try:
        return {k: round(v, 4) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError):  # e.g. every trial sampled the same values
        return None


def summarise(study: Any, plan: Any) -> dict:
    """Write the study's files and return its summary document."""
    names = [o.metric for o in plan.setup.search.objectives]
    table = rows(study, names)
    study_dir = plan.setup.study_dir
    write_csv(study_dir / "leaderboard.csv", table)
    best = best_trials(study)
    best_file = write_best(study_dir, best[0], plan.name) if best else None
    imp = importances(study)
    counts = {s: sum(1 for r in table if r["state"] == s) for s in ("complete", "pruned", "fail", "running")}
    summary = {"study": plan.name, "storage": plan.storage, "study_dir": str(study_dir), "trials": len(table),
               "counts": counts, "objectives": names, "directions": [d.name.lower() for d in study.directions],
               "best": [{"trial": t.number, "values": t.values, "params": t.params, "run": t.user_attrs.get("run")}
                        for t in best], "best_yaml": str(best_file) if best_file else None,
               "importances": imp, "epochs_trained": sum(r["epochs"] or 0 for r in table), "leaderboard": table}
    write_json(study_dir / "study.json", {k: v for k, v in summary.items() if k != "leaderboard"})
    return summary
