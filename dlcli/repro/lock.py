"""Lock files: what a finished run must reproduce, read from its run directory.

A lock holds the recipe (resolved, and its hash), the data and split digests, the environment
the run had, the per-epoch loss trace, the final metrics, the best weights' sha256 and, when the
recipe exports, the ONNX graph hash. `dlcli check` builds the same mapping from a fresh run and
compares the two.
"""
from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import dlcli
from dlcli.errors import UsageError
from dlcli.fsio import write_json
from dlcli.repro import rundir

FORMAT = 1
TRACED = ("train.loss", "val.loss")


def default_path(recipe: Path) -> Path:
    """recipes/digits-ci.yaml -> recipes/digits-ci.lock.json"""
    return Path(recipe).with_name(Path(recipe).stem + ".lock.json")


def recipe_view(doc: dict) -> dict:
    """The resolved recipe without where its data files sit (their contents are the data hash),
    so a lock made on one machine fits a clone at another path."""
    view = copy.deepcopy(doc)
    source = view.get("data", {}).get("source")
    if isinstance(source, dict) and isinstance(source.get("path"), str):
        source["path"] = Path(source["path"]).name
    return view


def recipe_sha256(view: dict) -> str:
    return hashlib.sha256(json.dumps(view, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def loss_trace(run: Path) -> dict:
    """Per-epoch train (and val) loss from metrics.jsonl, exactly as logged."""
    path = run / "metrics.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    return {key: [r[key] for r in records] for key in TRACED if records and key in records[0]}


def flat_metrics(metrics: dict) -> dict:
    """{"test": {"accuracy": 0.9}} -> {"test.accuracy": 0.9}; non-scalar metrics are left out."""
    return {f"{split}.{name}": value for split, values in metrics.items() for name, value in values.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def completed_record(run: Path) -> dict:
    record = rundir.read_json(run / "run.json") if (run / "run.json").is_file() else {}
    if record.get("status") != "completed":
        raise UsageError(f"{run} has not completed (status: {record.get('status', 'unknown')}): only a finished "
                         "run can be locked; train it to the end first")
    if "environment" not in record:
        raise UsageError(f"{run} predates environment capture in run.json; train the recipe again to lock it")
    return record


def lock_from_run(run: Path | str) -> dict:
    """The lock of a finished run directory."""
    from dlcli.recipe.yamlio import safe_load

    run = rundir.open_run(run)
    record = completed_record(run)
    view = recipe_view(safe_load((run / "recipe.yaml").read_text()))
    lock = {
        "format": FORMAT, "dlcli": dlcli.__version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recipe": {"name": record["name"], "sha256": recipe_sha256(view), "resolved": view},
        "seed": record["seed"], "data": record["data"]["digest"], "splits": record["splits"]["digest"],
        "environment": record["environment"], "trace": loss_trace(run), "metrics": flat_metrics(record["metrics"]),
        "weights": record["weights"]["sha256"], "epochs": record["epochs_completed"],
    }
    if record.get("export", {}).get("graph_sha256"):
        lock["onnx"] = {key: record["export"][key] for key in ("graph_sha256", "opset", "exporter")}
    return lock


def write_lock(path: Path, lock: dict) -> None:
    write_json(path, lock)


def read_lock(path: Path) -> dict:
    """A lock file, or exit 2 saying why it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no lock file at {path}: create one with `dlcli lock RECIPE` (or give --lock FILE)")
    try:
        lock = json.loads(path.read_text())
    except ValueError as e:
        raise UsageError(f"{path} is not a lock file: invalid JSON ({e})") from None
    missing = [k for k in ("format", "recipe", "environment", "metrics", "weights", "trace") if k not in lock]
    if not isinstance(lock, dict) or missing:
        raise UsageError(f"{path} is not a lock file: missing {', '.join(missing) or 'everything'}")
    if lock["format"] != FORMAT:
        raise UsageError(f"{path} has lock format {lock['format']}; this dlcli reads format {FORMAT}: lock again")
    return lock


def recipe_of_run(run: Path, record: dict) -> Optional[Path]:
    """The recipe file a run was trained from, when it is still there."""
    path = Path(record.get("recipe") or "")
    return path if path.suffix in (".yaml", ".yml") and path.is_file() else None
