"""What a study leaves behind: leaderboard.csv, best.yaml, importances, study.json."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Optional

from dlcli.fsio import write_atomic, write_json
from dlcli.recipe.yamlio import dump
from dlcli.search.space import decoded

IMPORTANCE_MIN_TRIALS = 5


def rows(study: Any, names: list[str], space: Optional[dict] = None) -> list[dict]:
    """One row per trial, best first (finished before running, complete before pruned)."""
    out = []
    for t in study.get_trials(deepcopy=False):
        values = t.values or [None] * len(names)
        row = {"trial": t.number, "state": t.state.name.lower(), **dict(zip(names, values)),
               "epochs": t.user_attrs.get("epochs"), "seconds": _seconds(t), **decoded(t.params, space or {}),
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
    # a list or mapping choice as JSON, which `--set` and other tools read back; not a Python repr
    writer.writerows({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in r.items()} for r in table)
    write_atomic(path, buf.getvalue())


def best_trials(study: Any) -> list[Any]:
    """The best trial, or the Pareto front for several objectives; [] before any completes."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return []
    return list(study.best_trials) if len(study.directions) > 1 else [study.best_trial]


def write_best(study_dir: Path, trial: Any, study_name: str, space: Optional[dict] = None) -> Optional[Path]:
    """best.yaml: the winning trial's resolved recipe, standalone (`dlcli train best.yaml`)."""
    from dlcli.recipe.yamlio import read

    run = Path(trial.user_attrs.get("run", ""))
    if not (run / "recipe.yaml").is_file():
        return None
    doc, _ = read(run / "recipe.yaml")
    doc.pop("search", None)  # the values are chosen: training it must not start another search
    doc["description"] = f"best of study {study_name}: trial {trial.number}, {decoded(trial.params, space or {})}"
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
    names, space = [o.metric for o in plan.setup.search.objectives], plan.setup.search.space
    table = rows(study, names, space)
    study_dir = plan.setup.study_dir
    write_csv(study_dir / "leaderboard.csv", table)
    best = best_trials(study)
    best_file = write_best(study_dir, best[0], plan.name, space) if best else None
    imp = importances(study)
    counts = {s: sum(1 for r in table if r["state"] == s) for s in ("complete", "pruned", "fail", "running")}
    summary = {"study": plan.name, "storage": plan.storage, "study_dir": str(study_dir), "trials": len(table),
               "counts": counts, "objectives": names, "directions": [d.name.lower() for d in study.directions],
               "best": [{"trial": t.number, "values": t.values, "params": decoded(t.params, space),
                         "run": t.user_attrs.get("run")} for t in best],
               "best_yaml": str(best_file) if best_file else None,
               "importances": imp, "epochs_trained": sum(r["epochs"] or 0 for r in table), "leaderboard": table}
    write_json(study_dir / "study.json", {k: v for k, v in summary.items() if k != "leaderboard"})
    return summary


def all_failed(summary: dict) -> Optional[str]:
    """Why the study has nothing to show, when every one of its finished trials failed; else None."""
    counts = summary["counts"]
    if counts["fail"] == 0 or counts["complete"] or counts["pruned"]:
        return None
    failed = sorted((r for r in summary["leaderboard"] if r["state"] == "fail"), key=lambda r: r["trial"])
    first = next((r for r in failed if r["note"] and "interrupted" not in r["note"]), failed[0])
    return (f"every trial of study {summary['study']} failed ({counts['fail']} trials); trial {first['trial']}: "
            f"{first['note'] or 'no reason recorded'} (the leaderboard is in {summary['study_dir']})")
